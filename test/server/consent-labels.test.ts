import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO, emailsAtX, startTestService, type TestService } from './harness.ts';

// Consent policies that apply through data-usage labels: a segment's labels decide for its audience alone, the labels
// of mapped fields for every audience of the dataflow; changing either (or the mapping) decides the members again.

let t: TestService;
let dataflowId: string;
let destinationId: string;
const SENSITIVE = 'seg-sensitive';
const PLAIN = 'seg-plain';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const emails = (...names: string[]) => names.map((n) => sha(`${n}@example.com`)).sort();

const exportOf = (ecid: string, consents: Record<string, string>) => ({
  identityMap: { ECID: [{ id: ecid }], Email: [{ id: `${ecid}@example.com` }] },
  segmentMembership: { ups: { [SENSITIVE]: { status: 'realized' }, [PLAIN]: { status: 'realized' } } },
  attributes: consents,
});

const call = (method: string, path: string, body?: unknown) =>
  t.call(method, path, { token: t.adminToken, ...(body === undefined ? {} : { body }) });

beforeAll(async () => {
  t = await startTestService();
  await call('POST', '/api/v1/segments', { id: SENSITIVE, name: 'Sensitive', labels: ['HEALTH'] });
  await call('POST', '/api/v1/segments', { id: PLAIN, name: 'Plain' });
  const d = await call('POST', '/api/v1/destinations', {
    name: 'Acme',
    accountId: DEMO.accountId,
    credentials: DEMO.credentials,
    marketingActions: ['Cross Site Targeting'],
    alertWebhookUrl: null,
  });
  expect(d.status, JSON.stringify(d.body)).toBe(201);
  destinationId = d.body.id as string;
  const df = await call('POST', '/api/v1/dataflows', {
    name: 'CRM to X',
    destinationId,
    mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    audiences: [
      { segmentId: SENSITIVE, mappingName: 'Sensitive buyers' },
      { segmentId: PLAIN, mappingName: 'Plain buyers' },
    ],
  });
  expect(df.status, JSON.stringify(df.body)).toBe(201);
  dataflowId = df.body.id as string;
});

afterAll(async () => {
  await t?.close();
});

describe('consent policies on data-usage labels', () => {
  it('are checked: labels as data-usage labels, the operator and or or, an action or a label named', async () => {
    const bad = await call('PUT', '/api/v1/consent-policies', {
      policies: [
        {
          name: 'A',
          labels: ['health', 'HEALTH', 'no spaces'],
          operator: 'xor',
          attribute: 'consents.share.val',
        },
        { name: 'B', attribute: 'consents.share.val' },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'policies[0].labels[1]',
      'policies[0].labels[2]',
      'policies[0].operator',
      'policies[1].marketingActions',
    ]);
    expect((await call('GET', '/api/v1/consent-policies')).body.policies).toEqual([]);
  });

  it("hold back only the audiences whose segment or mapped fields carry the labels, and follow the labels' changes", async () => {
    const ingest = await call('POST', '/api/v1/ingest/profiles', [
      exportOf('both', { 'consents.share.val': 'y', 'consents.marketing.any.val': 'y' }),
      exportOf('any', { 'consents.share.val': 'n', 'consents.marketing.any.val': 'y' }),
      exportOf('none', {}),
    ]);
    expect(ingest.status).toBe(202);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both', 'any', 'none'));

    const set = await call('PUT', '/api/v1/consent-policies', {
      policies: [
        { name: 'Sensitive data needs sharing consent', labels: ['health'], attribute: 'consents.share.val' },
      ],
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.policies[0]).toMatchObject({ marketingActions: [], labels: ['HEALTH'], operator: 'and' });
    const [health] = set.body.policies as Array<{ id: string }>;

    // The labelled segment's audience keeps the consenting member only; the other audience of the dataflow keeps all.
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both'));
    expect(await emailsAtX(t, dataflowId, PLAIN)).toEqual(emails('both', 'any', 'none'));
    // The dataflow's plan says which policies hold for each audience.
    const plan = await call('GET', `/api/v1/dataflows/${dataflowId}/plan`);
    expect(
      (plan.body.audiences as Array<{ segmentId: string; consentPolicies: unknown[] }>)
        .map((a) => [a.segmentId, a.consentPolicies])
        .sort(),
    ).toEqual([
      [PLAIN, []],
      [SENSITIVE, [{ id: health!.id, name: 'Sensitive data needs sharing consent' }]],
    ]);

    // The preview of this activation counts the policy for the labelled segment only.
    const preview = await call(
      'GET',
      `/api/v1/consent-policies/preview?destinationId=${destinationId}&segmentIds=${SENSITIVE},${PLAIN}&fields=namespace:Email`,
    );
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.policies.map((p: { id: string }) => p.id)).toEqual([health!.id]);
    expect(preview.body.all).toEqual({ profiles: 3, consenting: 3, denied: [] });
    expect(preview.body.segments).toEqual([
      { segmentId: SENSITIVE, profiles: 3, consenting: 1, denied: [{ policyId: health!.id, profiles: 2 }] },
      { segmentId: PLAIN, profiles: 3, consenting: 3, denied: [] },
    ]);
    const badFields = await call(
      'GET',
      `/api/v1/consent-policies/preview?destinationId=${destinationId}&fields=Email`,
    );
    expect(badFields.status).toBe(400);
    expect(badFields.body.error.details[0].path).toBe('query.fields');

    // Labels move from one segment to the other: each audience is decided again.
    expect((await call('PATCH', `/api/v1/segments/${PLAIN}`, { labels: ['HEALTH'] })).status).toBe(200);
    expect((await call('PATCH', `/api/v1/segments/${SENSITIVE}`, { labels: [] })).status).toBe(200);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both', 'any', 'none'));
    expect(await emailsAtX(t, dataflowId, PLAIN)).toEqual(emails('both'));

    // A policy on a field label, joined to the destination's action: it applies once the mapped Email is labelled,
    // to every audience of the dataflow.
    const two = await call('PUT', '/api/v1/consent-policies', {
      policies: [
        ...set.body.policies,
        {
          name: 'Emails need marketing consent',
          marketingActions: ['Cross Site Targeting'],
          labels: ['PII'],
          operator: 'and',
          attribute: 'consents.marketing.any.val',
        },
      ],
    });
    expect(two.status, JSON.stringify(two.body)).toBe(200);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both', 'any', 'none'));
    const labelled = await call('PUT', '/api/v1/field-labels', {
      fields: [{ sourceType: 'namespace', source: 'Email', labels: ['PII'] }],
    });
    expect(labelled.status, JSON.stringify(labelled.body)).toBe(200);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both', 'any'));
    expect(await emailsAtX(t, dataflowId, PLAIN)).toEqual(emails('both'));
    // A profile arriving now is decided per audience as it is applied, and counted as excluded where it fails.
    await call('POST', '/api/v1/ingest/profiles', [exportOf('late', { 'consents.marketing.any.val': 'y' })]);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual(emails('both', 'any', 'late'));
    expect(await emailsAtX(t, dataflowId, PLAIN)).toEqual(emails('both'));
    const audiences = await call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`);
    const plainId = (audiences.body.items as Array<{ id: string; segmentId: string }>).find(
      (a) => a.segmentId === PLAIN,
    )!.id;
    const runs = await call('GET', `/api/v1/dataflows/${dataflowId}/runs`);
    const denied = (
      runs.body.items as Array<{
        audiences: Array<{ audienceId: string; excludedByReason: Record<string, number> }>;
      }>
    ).map((r) => r.audiences.find((a) => a.audienceId === plainId)?.excludedByReason['consent_denied'] ?? 0);
    expect(denied.reduce((a, b) => a + b, 0)).toBe(1);

    // A new mapping decides the members again from the stored profiles: identifiers it no longer maps leave X.
    const remapped = await call('PATCH', `/api/v1/dataflows/${dataflowId}`, {
      mapping: [
        { sourceType: 'namespace', source: 'Phone_E.164', target: 'phone_number', applyTransformation: true },
      ],
    });
    expect(remapped.status, JSON.stringify(remapped.body)).toBe(200);
    expect(await emailsAtX(t, dataflowId, SENSITIVE)).toEqual([]);
    expect(await emailsAtX(t, dataflowId, PLAIN)).toEqual([]);
  });
});
