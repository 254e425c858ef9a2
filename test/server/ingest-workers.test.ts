import { afterEach, describe, expect, it } from 'vitest';
import { mappingRowKey } from '../../src/engine/dataflow-context.ts';
import { EngineError } from '../../src/engine/index.ts';
import { ApiError } from '../../src/server/api-error.ts';
import { createEngineAdapter } from '../../src/server/engine-adapter.ts';
import { evaluateIngestBody, type PlainEvaluationContext } from '../../src/server/ingest-evaluate.ts';
import { IngestWorkers } from '../../src/server/ingest-workers.ts';
import { profileKeyDigest } from '../../src/store/secret-box.ts';
import { SQLITE_BACKEND } from '../store/backends.ts';
import { setup, type Harness } from '../engine/harness.ts';

const EMAIL = {
  sourceType: 'namespace' as const,
  source: 'Email',
  target: 'email' as const,
  applyTransformation: true,
};
const PHONE = {
  sourceType: 'namespace' as const,
  source: 'Phone',
  target: 'phone_number' as const,
  applyTransformation: true,
};
const CONTEXT: PlainEvaluationContext = {
  rows: [EMAIL, PHONE].map((row) => [mappingRowKey(row), row]),
  keyNamespaces: ['ECID', 'CRMID'],
  previousKeyNamespaces: null,
  keyAliases: false,
  dataflows: [
    {
      id: 'df-1',
      mapping: [EMAIL, PHONE],
      rowKeys: [EMAIL, PHONE].map((row) => mappingRowKey(row)),
      consent: [],
    },
  ],
};
const KEY = Buffer.alloc(32, 7);

const profile = (i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    segmentMembership: { ups: { 'seg-1': { status: i % 4 === 0 ? 'exited' : 'realized' } } },
    identityMap: {
      ECID: [{ id: `ecid-${i}` }],
      Email: [{ id: ` Person.${i}@Example.COM ` }],
      ...(i % 3 === 0 ? { Phone: [{ id: `+1415555${String(i).padStart(4, '0')}` }] } : {}),
      ...(i % 5 === 0 ? { Email: [{ id: 'not an email' }] } : {}),
    },
    ...extra,
  });

// Valid profiles, a rejected identity, a line that is not JSON and an item that is not a profile export.
const BODY = {
  text: [profile(1), profile(2), '{not json', profile(3), '{"segmentMembership": 5}', profile(5)].join('\n'),
  contentType: 'application/x-ndjson',
  maxItems: 100,
};

const pools: IngestWorkers[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('ingest worker threads', () => {
  it('evaluate a body exactly as the main thread does', async () => {
    const workers = new IngestWorkers({ size: 2, profileKey: KEY });
    pools.push(workers);
    const inline = evaluateIngestBody(BODY, CONTEXT, keyedHash);
    const threaded = await Promise.all([workers.evaluate(BODY, CONTEXT), workers.evaluate(BODY, CONTEXT)]);
    expect(inline.received).toBe(6);
    expect(inline.evaluations).toHaveLength(4);
    expect([...new Set(inline.rejected.map((r) => r.index))]).toEqual([2, 4]);
    expect(threaded[0]).toEqual(inline);
    expect(threaded[1]).toEqual(inline);
  });

  it('turn an unreadable body into the same ApiError as the main thread', async () => {
    const workers = new IngestWorkers({ size: 1, profileKey: KEY });
    pools.push(workers);
    const tooMany = { ...BODY, maxItems: 2 };
    const inline = (() => {
      try {
        evaluateIngestBody(tooMany, CONTEXT, keyedHash);
      } catch (error) {
        return error as ApiError;
      }
      throw new Error('expected a 413');
    })();
    const threaded = await workers.evaluate(tooMany, CONTEXT).then(
      () => {
        throw new Error('expected a 413');
      },
      (error: unknown) => error as ApiError,
    );
    expect(threaded).toBeInstanceOf(ApiError);
    expect({ ...threaded.toBody(), status: threaded.status }).toEqual({
      ...inline.toBody(),
      status: 413,
    });
    await expect(workers.evaluate({ ...BODY, contentType: 'text/plain' }, CONTEXT)).rejects.toMatchObject({
      status: 415,
      code: 'unsupported_media_type',
    });
  });
});

/** The keyed hash the workers compute from the key they were given. */
function keyedHash(namespace: string, id: string): string {
  return profileKeyDigest(KEY, namespace, id);
}

describe('evaluated ingest and mapping changes', () => {
  let h: Harness | undefined;

  async function flowWith(mapping: Array<typeof EMAIL | typeof PHONE>, segmentId: string) {
    const flow = await h!.store.dataflows.create({
      sandboxId: 'prod',
      destinationId: h!.destination.id,
      name: `flow ${segmentId}`,
      mapping,
    });
    await h!.store.audiences.create({
      sandboxId: 'prod',
      dataflowId: flow.id,
      segmentId,
      mappingName: `Audience ${segmentId}`,
      startDate: 0,
    });
    return flow;
  }

  const identitiesOf = async () =>
    (await h!.store.db.selectFrom('engine_profiles').select('identities').execute()).map(
      (r) => JSON.parse(r.identities) as Record<string, string[]>,
    );

  it('refuses evaluations made under another mapping and writes nothing', async () => {
    h = await setup(SQLITE_BACKEND);
    await flowWith([EMAIL], 'seg-1');
    const context = await h.engine.evaluationContext('prod');
    const { evaluations } = evaluateIngestBody(BODY, context, (ns, id) => h!.store.profileKeyHash(ns, id));
    await flowWith([EMAIL, PHONE], 'seg-2');

    const error = await h.engine
      .ingest([], { sandboxId: 'prod', evaluated: { evaluations, fingerprint: context.fingerprint } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe('context_changed');
    expect(await identitiesOf()).toEqual([]);
  });

  it.each([0, 1])(
    'evaluates again when a dataflow with the same mapping rows is added: its audience gets every user (%i threads)',
    async (threads) => {
      h = await setup(SQLITE_BACKEND);
      const first = await flowWith([EMAIL], 'seg-1');
      const adapter = createEngineAdapter({ engine: h.engine, store: h.store, ingestThreads: threads });
      try {
        await adapter.ingestBody('prod', BODY, 'r1');
        // Same rows, so only the dataflows differ from the cached context: evaluations carry one user per dataflow.
        const second = await flowWith([EMAIL], 'seg-1');
        await adapter.ingestBody('prod', BODY, 'r2');
        const desiredOf = async (dataflowId: string) =>
          (
            await h!.store.db
              .selectFrom('engine_ledger as l')
              .innerJoin('dataflow_audiences as a', 'a.id', 'l.audience_id')
              .select(['l.member', 'l.desired'])
              .where('a.dataflow_id', '=', dataflowId)
              .orderBy('l.member')
              .execute()
          ).map((r) => [r.member, r.desired]);
        const members = (await desiredOf(first.id)).filter(([, desired]) => desired !== null);
        expect(members.length).toBeGreaterThan(0);
        expect(await desiredOf(second.id)).toEqual(await desiredOf(first.id));
      } finally {
        await adapter.close();
      }
    },
  );

  it.each([0, 1])(
    'evaluates again with the current mapping when it changed since the cached one (%i threads)',
    async (threads) => {
      h = await setup(SQLITE_BACKEND);
      await flowWith([EMAIL], 'seg-1');
      const adapter = createEngineAdapter({ engine: h.engine, store: h.store, ingestThreads: threads });
      try {
        const first = await adapter.ingestBody('prod', BODY, 'r1');
        expect(first).toMatchObject({ received: 6, accepted: 4, duplicate: false });
        // The adapter cached the one-row mapping; a new dataflow adds the phone row.
        await flowWith([EMAIL, PHONE], 'seg-2');
        const second = await adapter.ingestBody('prod', BODY, 'r2');
        expect(second).toMatchObject({ received: 6, accepted: 4, duplicate: false });
        const phoneRow = mappingRowKey(PHONE);
        // Profile 3 has a phone: stored under the new row, so the new dataflow can build its users.
        expect((await identitiesOf()).filter((values) => values[phoneRow] !== undefined)).toHaveLength(1);
        // A retried request stays a no-op whatever path it takes.
        expect(await adapter.ingestBody('prod', BODY, 'r2')).toMatchObject({ duplicate: true });
      } finally {
        await adapter.close();
      }
    },
  );

  it.each([0, 1])(
    'evaluates again the body that holds the first CRM-keyed profile, and merges it once its ECID comes (%i threads)',
    async (threads) => {
      h = await setup(SQLITE_BACKEND);
      await flowWith([EMAIL], 'seg-1');
      const adapter = createEngineAdapter({ engine: h.engine, store: h.store, ingestThreads: threads });
      const body = (identityMap: Record<string, Array<{ id: string }>>) => ({
        text: JSON.stringify({
          segmentMembership: { ups: { 'seg-1': { status: 'realized' } } },
          identityMap,
        }),
        contentType: 'application/x-ndjson',
        maxItems: 100,
      });
      try {
        // Evaluated under a context that does not look CRM ids up yet: refused once, then evaluated again.
        const crm = await adapter.ingestBody(
          'prod',
          body({ CRMID: [{ id: 'c1' }], Email: [{ id: 'a@x.com' }] }),
          'r1',
        );
        expect(crm).toMatchObject({ received: 1, accepted: 1 });
        expect((await h.engine.evaluationContext('prod')).keyAliases).toBe(true);
        await adapter.ingestBody(
          'prod',
          body({ ECID: [{ id: 'e1' }], CRMID: [{ id: 'c1' }], Email: [{ id: 'b@x.com' }] }),
          'r2',
        );
        // One person: the CRM-keyed profile left the segment the ECID export states.
        const segments = await h.store.db.selectFrom('engine_profiles').select('segments').execute();
        expect(segments.map((r) => r.segments).sort()).toEqual(['["seg-1"]', '[]']);
      } finally {
        await adapter.close();
      }
    },
  );
});
