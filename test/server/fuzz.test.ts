import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X_IDENTIFIER_TYPES } from '../../src/identity/types.ts';
import { DEMO, startTestService, type TestService, type Json } from './harness.ts';

// Generated bad input against the ingest and dataflow routes: always a 4xx with the error envelope, never a 5xx, and
// nothing half-written.

let t: TestService;
let destinationId: string;
let dataflowId: string;
const SEG = 'seg-fuzz';

const count = async (table: 'engine_ledger' | 'engine_profiles' | 'dataflows' | 'dataflow_audiences') =>
  Number(
    (
      await t.service.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

function expectEnvelope(status: number, body: Json) {
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).toBeLessThan(500);
  expect(typeof body?.error?.code).toBe('string');
  expect(typeof body?.error?.message).toBe('string');
  expect(Array.isArray(body?.error?.details)).toBe(true);
  for (const d of body.error.details) {
    expect(typeof d.path).toBe('string');
    expect(typeof d.reason).toBe('string');
  }
}

beforeAll(async () => {
  t = await startTestService({ TCA_MAX_INGEST_ITEMS: '100' });
  await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: SEG, name: 'Fuzzed' } });
  const d = await t.call('POST', '/api/v1/destinations', {
    token: t.adminToken,
    body: { name: 'Fuzz', accountId: DEMO.accountId, credentials: DEMO.credentials },
  });
  destinationId = d.body.id;
  const df = await t.call('POST', '/api/v1/dataflows', {
    token: t.adminToken,
    body: {
      name: 'Fuzz flow',
      destinationId,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: SEG }],
    },
  });
  dataflowId = df.body.id;
});

afterAll(async () => {
  await t?.close();
});

// Profiles that are wrong somewhere: bad status, identityMap of the wrong shape, membership not an object, …
const badProfile = fc.oneof(
  fc.jsonValue().filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
  fc.record({
    segmentMembership: fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  }),
  fc.record({
    segmentMembership: fc.constant({ ups: { [SEG]: { status: 'bogus' } } }),
    identityMap: fc.dictionary(fc.string(), fc.jsonValue()),
  }),
  fc.record({
    segmentMembership: fc.record({
      ups: fc.dictionary(
        fc.string({ minLength: 1 }),
        fc.record({ status: fc.string().filter((s) => !['realized', 'existing', 'exited'].includes(s)) }),
        { minKeys: 1 },
      ),
    }),
  }),
  fc.record({
    segmentMembership: fc.constant({ ups: { [SEG]: { status: 'realized' } } }),
    identityMap: fc.oneof(
      fc.string(),
      fc.integer(),
      fc.array(fc.jsonValue()),
      fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.string(), fc.integer(), fc.constant(null)), {
        minKeys: 1,
      }),
    ),
  }),
);

describe('ingest fuzz', () => {
  it('answers bad JSON documents and bad profiles with 4xx + envelope and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          badProfile.map((p) => ({ ct: 'application/json', body: JSON.stringify(p) })),
          fc
            .array(badProfile, { minLength: 1, maxLength: 5 })
            .map((ps) => ({ ct: 'application/json', body: JSON.stringify(ps) })),
          fc
            .array(badProfile, { minLength: 1, maxLength: 5 })
            .map((ps) => ({ ct: 'application/x-ndjson', body: ps.map((p) => JSON.stringify(p)).join('\n') })),
          fc.string().map((s) => ({ ct: 'application/json', body: `{${s}` })),
          fc.string().map((s) => ({ ct: 'text/csv', body: s })),
          fc.constant({ ct: 'application/json', body: '[]' }),
          fc.constant({ ct: 'application/x-ndjson', body: '\n\n' }),
        ),
        async ({ ct, body }) => {
          const before = [await count('engine_ledger'), await count('engine_profiles')];
          const r = await t.call('POST', '/api/v1/ingest/profiles', {
            token: t.adminToken,
            raw: body,
            headers: { 'content-type': ct },
          });
          expectEnvelope(r.status, r.body);
          expect([await count('engine_ledger'), await count('engine_profiles')]).toEqual(before);
        },
      ),
      { numRuns: 120 },
    );
  });

  it('never answers 5xx to arbitrary bodies', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue(),
        fc.constantFrom('application/json', 'application/x-ndjson'),
        async (doc, ct) => {
          const r = await t.call('POST', '/api/v1/ingest/profiles', {
            token: t.adminToken,
            raw: JSON.stringify(doc) ?? 'null',
            headers: { 'content-type': ct },
          });
          expect(r.status).toBeLessThan(500);
          if (r.status !== 202) expectEnvelope(r.status, r.body);
        },
      ),
      { numRuns: 80 },
    );
  });
});

const notATarget = fc.string().filter((s) => !(X_IDENTIFIER_TYPES as readonly string[]).includes(s));
const badMappingRow = fc.oneof(
  fc.record({
    sourceType: fc.constantFrom('namespace', 'attribute'),
    source: fc.string({ minLength: 1 }),
    target: notATarget,
    applyTransformation: fc.boolean(),
  }),
  fc.record({
    sourceType: fc.string().filter((s) => s !== 'namespace' && s !== 'attribute'),
    source: fc.string(),
    target: fc.constantFrom(...X_IDENTIFIER_TYPES),
  }),
  fc.jsonValue(),
);
const forbiddenName = fc
  .tuple(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('+', '&', ',', '%', ':', ';', '@', '/', '=', '?', '$'),
    fc.string({ maxLength: 20 }),
  )
  .map(([a, c, b]) => `${a}${c}${b}`);

describe('dataflow fuzz', () => {
  it('answers invalid dataflows with 4xx + envelope and creates nothing', async () => {
    const body = fc.oneof(
      fc.record({
        name: fc.string({ maxLength: 30 }),
        destinationId: fc.constant(destinationId),
        mapping: fc.array(badMappingRow, { minLength: 1, maxLength: 3 }),
        audiences: fc.constant([{ segmentId: SEG }]),
      }),
      fc.record({
        name: fc.constant('ok'),
        destinationId: fc.constant(destinationId),
        mapping: fc.constant([
          { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true },
        ]),
        audiences: fc.array(fc.record({ segmentId: fc.constant(SEG), mappingName: forbiddenName }), {
          minLength: 1,
          maxLength: 2,
        }),
      }),
      fc.record({
        name: fc.constant('ok'),
        destinationId: fc.string(),
        mapping: fc.constant([
          { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true },
        ]),
        audiences: fc.array(fc.record({ segmentId: fc.string().filter((s) => s !== SEG) }), {
          minLength: 1,
          maxLength: 3,
        }),
      }),
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const before = [await count('dataflows'), await count('dataflow_audiences')];
        const r = await t.call('POST', '/api/v1/dataflows', {
          token: t.adminToken,
          raw: JSON.stringify(b) ?? 'null',
          headers: { 'content-type': 'application/json' },
        });
        expectEnvelope(r.status, r.body);
        expect([await count('dataflows'), await count('dataflow_audiences')]).toEqual(before);
      }),
      { numRuns: 120 },
    );
  });

  it('answers invalid patches with 4xx + envelope and changes nothing', async () => {
    const original = (await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken })).body;
    const patch = fc.oneof(
      fc.record({ mapping: fc.array(badMappingRow, { minLength: 1, maxLength: 3 }) }),
      fc.record({
        audiences: fc.array(fc.record({ segmentId: fc.constant(SEG), mappingName: forbiddenName }), {
          minLength: 1,
          maxLength: 2,
        }),
      }),
      fc.record({
        maxBatchAgeSeconds: fc.oneof(fc.integer({ max: 59 }), fc.integer({ min: 28_801 }), fc.string()),
      }),
      fc.record({ status: fc.string().filter((s) => s !== 'active' && s !== 'paused') }),
      fc.record({ name: fc.oneof(fc.constant(''), fc.integer()), audiences: fc.constant([]) }),
    );
    await fc.assert(
      fc.asyncProperty(patch, async (p) => {
        const r = await t.call('PATCH', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken, body: p });
        expectEnvelope(r.status, r.body);
        const now = (await t.call('GET', `/api/v1/dataflows/${dataflowId}`, { token: t.adminToken })).body;
        expect(now).toEqual(original);
      }),
      { numRuns: 100 },
    );
  });
});
