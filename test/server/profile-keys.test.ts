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
    expect(r.body).toEqual({
      namespaces: ['ECID', 'CRMID'],
      isDefault: true,
      fixed: false,
      mergesAcrossNamespaces: false,
      rekey: null,
    });
    const bad = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['Customer ID', 'ecid', 'ECID'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toEqual([
      'namespaces[0]',
      'namespaces',
    ]);
  });

  it('keys profiles by the namespaces set, so an identity change replaces the old email at X', async () => {
    const set = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['CustomerID', 'ECID'] },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({
      namespaces: ['CUSTOMERID', 'ECID'],
      isDefault: false,
      fixed: false,
      mergesAcrossNamespaces: false,
      rekey: null,
    });

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
    expect(r.body).toEqual({
      namespaces: ['CUSTOMERID', 'ECID'],
      isDefault: false,
      fixed: true,
      mergesAcrossNamespaces: false,
      rekey: null,
    });
    for (const namespaces of [['ECID'], null]) {
      const change = await t.call('PATCH', '/api/v1/profile-keys', {
        token: t.adminToken,
        body: { namespaces },
      });
      expect(change.status).toBe(409);
      expect(change.body.error.code).toBe('profile_keys_fixed');
      expect(change.body.error.message).toContain('"rekey": true');
      // The hint is said once, and the path is the request's own field.
      expect(change.body.error.message.split('Send "rekey": true')).toHaveLength(2);
      expect(change.body.error.details[0].path).toBe('namespaces');
    }
    // Setting what is already set is no change.
    const same = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['customerid', 'ecid'] },
    });
    expect(same.status).toBe(200);
  });

  it('re-keys the sandbox: profiles move to their new keys as they arrive, and the end removes the rest', async () => {
    // Keyed by customer id so far; from now on by a loyalty id, which the warehouse sends beside it.
    const start = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: ['LoyaltyID'], rekey: true },
    });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    expect(start.body).toMatchObject({
      namespaces: ['LOYALTYID'],
      fixed: true,
      rekey: { from: ['CUSTOMERID', 'ECID'], remaining: 2 },
    });
    const again = await t.call('PATCH', '/api/v1/profile-keys', {
      token: t.adminToken,
      body: { namespaces: null, rekey: true },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('rekey_in_progress');
    // Customer c-1 arrives with its loyalty id and leaves the segment: found under its old key, so it leaves X.
    const exit = {
      identityMap: {
        CustomerID: [{ id: 'c-1' }],
        LoyaltyID: [{ id: 'l-1' }],
        Email: [{ id: 'new.1@example.com' }],
      },
      segmentMembership: { ups: { [SEG]: { status: 'exited' } } },
    };
    expect(
      (await t.call('POST', '/api/v1/ingest/profiles', { token: t.adminToken, body: exit })).status,
    ).toBe(202);
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual([sha('two@example.com')]);
    const progress = await t.call('GET', '/api/v1/profile-keys', { token: t.adminToken });
    expect(progress.body.rekey.remaining).toBe(1);
    // Customer c-2 never comes back: ending the re-keying with removeRemaining takes it out of X.
    const finish = await t.call('POST', '/api/v1/profile-keys/rekey/finish', {
      token: t.adminToken,
      body: { removeRemaining: true },
    });
    expect(finish.status, JSON.stringify(finish.body)).toBe(200);
    expect(finish.body).toMatchObject({
      removedProfiles: 1,
      removedMemberships: 1,
      settings: { rekey: null },
    });
    expect(await emailsAtX(t, dataflowId, SEG)).toEqual([]);
    const none = await t.call('POST', '/api/v1/profile-keys/rekey/finish', {
      token: t.adminToken,
      body: { removeRemaining: false },
    });
    expect(none.status).toBe(409);
    expect(none.body.error.code).toBe('no_rekey');
  });
});
