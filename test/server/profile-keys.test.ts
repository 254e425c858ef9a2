import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, emailsAtX, startTestService, type TestService } from './harness.ts';

// The sandbox's profile key namespaces over the API: set before profiles arrive, used to key them, fixed after.

let t: TestService;
let dataflowId: string;
const SEG = 'seg-keys';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A profile keyed only by a warehouse namespace (no ECID, no CRMID). */
const exportOf = (customerId: string, email: string) => ({
  identityMap: { CustomerID: [{ id: customerId }], Email: [{ id: email }] },
  segmentMembership: { ups: { [SEG]: { status: 'realized' } } },
});

beforeAll(async () => {
  t = await startTestService();
  dataflowId = await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'Keyed',
    dataflowName: 'Warehouse to X',
    mappingName: 'Keyed by customer',
  });
});

afterAll(async () => {
  await t?.close();
});

describe('profile keys', () => {
  it('starts with the default and refuses a bad list with every problem', async () => {
    const r = await t.call('GET', '/api/v1/profile-keys', { token: t.adminToken });
    expect(r.body).toEqual({ namespaces: ['ECID', 'CRMID'], isDefault: true, fixed: false });
    const bad = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['Customer ID', 'ecid', 'ECID'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'profileKeyNamespaces[0]',
      'profileKeyNamespaces',
    ]);
  });

  it('keys profiles by the namespaces set, so an identity change replaces the old email at X', async () => {
    const set = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['CustomerID', 'ECID'] },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({ namespaces: ['CUSTOMERID', 'ECID'], isDefault: false, fixed: false });

    const ingest = (body: unknown) =>
      t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body });
    expect(
      (await ingest([exportOf('c-1', 'old.1@example.com'), exportOf('c-2', 'two@example.com')])).status,
    ).toBe(202);
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual(
      [sha('old.1@example.com'), sha('two@example.com')].sort(),
    );
    // The same customer with a new email: the same profile, so its old email leaves the X audience.
    expect((await ingest(exportOf('c-1', 'new.1@example.com'))).status).toBe(202);
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual(
      [sha('new.1@example.com'), sha('two@example.com')].sort(),
    );
  });

  it('is fixed once the sandbox holds profiles', async () => {
    const r = await t.call('GET', '/api/v1/profile-keys', { token: t.adminToken });
    expect(r.body).toEqual({ namespaces: ['CUSTOMERID', 'ECID'], isDefault: false, fixed: true });
    for (const namespaces of [['ECID'], null]) {
      const change = await t.call('PATCH', '/api/v1/profile-keys', {
        token: t.adminToken,
        body: { namespaces },
      });
      expect(change.status).toBe(409);
      expect(change.body.error.code).toBe('profile_keys_fixed');
      expect(change.body.error.details[0].path).toBe('profileKeyNamespaces');
    }
    // Setting what is already set is no change.
    const same = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['customerid', 'ecid'] },
    });
    expect(same.status).toBe(200);
  });
});
