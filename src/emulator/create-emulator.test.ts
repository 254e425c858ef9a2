import { afterEach, describe, expect, it } from 'vitest';
import vectors from '../../test/fixtures/vectors.json' with { type: 'json' };
import { signRequest } from '../xads/oauth1.ts';
import { createEmulator, defaultDemoSeed } from './index.ts';
import type { Emulator, EmulatorOptions, RunningEmulator } from './index.ts';

const BASE = 'http://emulator.test';
const ACCOUNT = '18ce54d4x5t';
const HASH = '4798b8bbdcf6f2a52e527f46a3d7a7c9aefb541afda03af79c74809ecc6376f3';
const demo = defaultDemoSeed();
const APP = demo.apps[0]!;
const USER = demo.users[0]!;

const hash = (n: number): string => n.toString(16).padStart(64, '0');

class Clock {
  constructor(public ms: number) {}
  now = (): number => this.ms;
}

function setup(options: EmulatorOptions = {}) {
  const clock = new Clock(Date.UTC(2026, 10, 28, 12, 0, 0));
  let seq = 0;
  const emulator = createEmulator({
    now: clock.now,
    random: () => (seq = (seq * 9301 + 49297) % 233280) / 233280,
    ...options,
  });
  let nonce = 0;
  async function call(
    method: string,
    path: string,
    init: {
      body?: string;
      type?: string;
      token?: { key: string; secret: string } | null;
      consumer?: { key: string; secret: string };
      timestamp?: number;
      authorization?: string;
    } = {},
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are asserted field by field
  ): Promise<{ status: number; headers: Headers; json: any; text: string }> {
    const url = `${BASE}${path}`;
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? { key: USER.token, secret: USER.token_secret } : init.token;
    headers.authorization =
      init.authorization ??
      signRequest({
        method,
        url,
        consumer: init.consumer ?? { key: APP.consumer_key, secret: APP.consumer_secret },
        ...(token ? { token } : {}),
        nonce: `n${(nonce += 1)}`,
        timestamp: init.timestamp ?? Math.floor(clock.ms / 1000),
      });
    if (init.type) headers['content-type'] = init.type;
    const res = await emulator.fetch(
      new Request(url, { method, headers, ...(init.body === undefined ? {} : { body: init.body }) }),
    );
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, json, text };
  }
  const users = (audienceId: string, body: unknown, type = 'application/json') =>
    call('POST', `/12/accounts/${ACCOUNT}/custom_audiences/${audienceId}/users`, {
      body: typeof body === 'string' ? body : JSON.stringify(body),
      type,
    });
  const create = async (name: string): Promise<string> => {
    const res = await call(
      'POST',
      `/12/accounts/${ACCOUNT}/custom_audiences?name=${encodeURIComponent(name)}`,
    );
    expect(res.status).toBe(200);
    return res.json.data.id as string;
  };
  return { emulator, clock, call, users, create };
}

describe('OAuth 1.0a verification', () => {
  it('accepts every Ads API vector from vectors.json at its timestamp', async () => {
    const { credentials, cases } = vectors.oauth1;
    const emulator = createEmulator({
      now: () => Number(credentials.timestamp) * 1000,
      seed: {
        apps: [{ consumer_key: credentials.consumer_key, consumer_secret: credentials.consumer_secret }],
        users: [
          {
            user_id: '1',
            consumer_key: credentials.consumer_key,
            token: credentials.token,
            token_secret: credentials.token_secret,
          },
        ],
        accounts: [
          { id: ACCOUNT, name: 'Vector', access: [{ user_id: '1', permissions: ['ACCOUNT_ADMIN'] }] },
        ],
      },
    });
    const adsCases = cases.filter((c) => c.url.startsWith('https://ads-api.x.com/'));
    expect(adsCases.length).toBeGreaterThanOrEqual(4);
    for (const c of adsCases) {
      const oauth = {
        oauth_consumer_key: credentials.consumer_key,
        oauth_nonce: credentials.nonce,
        oauth_signature: c.signature,
        oauth_signature_method: 'HMAC-SHA1',
        oauth_timestamp: credentials.timestamp,
        oauth_token: credentials.token,
        oauth_version: '1.0',
      };
      const header = `OAuth ${Object.entries(oauth)
        .map(([k, v]) => `${k}="${encodeURIComponent(v)}"`)
        .join(', ')}`;
      const json = 'json_body' in c ? JSON.stringify(c.json_body) : undefined;
      const res = await emulator.fetch(
        new Request(c.url, {
          method: c.method,
          headers: { authorization: header, ...(json ? { 'content-type': 'application/json' } : {}) },
          ...(json ? { body: json } : {}),
        }),
      );
      // Anything but 401 means the signature verified (the vector audience 1nmth does not exist: 404).
      expect(res.status, c.name).not.toBe(401);
      const tampered = await emulator.fetch(
        new Request(c.url.includes('?') ? `${c.url}&x=1` : `${c.url}?x=1`, {
          method: c.method,
          headers: { authorization: header },
        }),
      );
      expect(tampered.status, c.name).toBe(401);
    }
  });

  it('rejects a missing header, unknown consumer or token, and a bad signature with 401 UNAUTHORIZED_ACCESS', async () => {
    const { call } = setup();
    const path = `/12/accounts/${ACCOUNT}`;
    const cases = [
      await call('GET', path, { authorization: '' }),
      await call('GET', path, { consumer: { key: 'nope', secret: APP.consumer_secret } }),
      await call('GET', path, { token: { key: 'nope', secret: USER.token_secret } }),
      await call('GET', path, { token: { key: USER.token, secret: 'wrong' } }),
      await call('GET', path, { consumer: { key: APP.consumer_key, secret: 'wrong' } }),
    ];
    for (const res of cases) {
      expect(res.status).toBe(401);
      expect(res.json.errors[0].code).toBe('UNAUTHORIZED_ACCESS');
    }
  });

  it('signs form-encoded body parameters but never a JSON body', async () => {
    const { emulator, clock } = setup();
    const url = `${BASE}/12/accounts/${ACCOUNT}/custom_audiences`;
    const sign = (form?: Record<string, string>) =>
      signRequest({
        method: 'POST',
        url,
        ...(form ? { form } : {}),
        consumer: { key: APP.consumer_key, secret: APP.consumer_secret },
        token: { key: USER.token, secret: USER.token_secret },
        nonce: 'form',
        timestamp: Math.floor(clock.ms / 1000),
      });
    const post = (authorization: string) =>
      emulator.fetch(
        new Request(url, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'name=from%20form',
        }),
      );
    expect((await post(sign())).status).toBe(401);
    const ok = await post(sign({ name: 'from form' }));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { data: { name: string } }).data.name).toBe('from form');
  });

  it('signs an extra oauth_body_hash like any oauth_* parameter, without comparing it with the body', async () => {
    const { emulator, clock } = setup();
    const url = `${BASE}/12/accounts/${ACCOUNT}/custom_audiences?name=hashed`;
    const authorization = signRequest({
      method: 'POST',
      url,
      consumer: { key: APP.consumer_key, secret: APP.consumer_secret },
      token: { key: USER.token, secret: USER.token_secret },
      nonce: 'body-hash',
      timestamp: Math.floor(clock.ms / 1000),
      extra: { oauth_body_hash: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=' },
    });
    expect(
      (await emulator.fetch(new Request(url, { method: 'POST', headers: { authorization } }))).status,
    ).toBe(200);
  });

  it('rejects a timestamp more than 300 s away, accepts one within', async () => {
    const { call, clock } = setup();
    const now = Math.floor(clock.ms / 1000);
    expect((await call('GET', `/12/accounts/${ACCOUNT}`, { timestamp: now - 301 })).status).toBe(401);
    expect((await call('GET', `/12/accounts/${ACCOUNT}`, { timestamp: now + 301 })).status).toBe(401);
    expect((await call('GET', `/12/accounts/${ACCOUNT}`, { timestamp: now - 299 })).status).toBe(200);
  });

  it('rejects a replayed nonce when configured to', async () => {
    const { emulator, clock } = setup({ rejectReplayedNonces: true });
    const url = `${BASE}/12/accounts/${ACCOUNT}`;
    const authorization = signRequest({
      method: 'GET',
      url,
      consumer: { key: APP.consumer_key, secret: APP.consumer_secret },
      token: { key: USER.token, secret: USER.token_secret },
      nonce: 'same',
      timestamp: Math.floor(clock.ms / 1000),
    });
    expect((await emulator.fetch(new Request(url, { headers: { authorization } }))).status).toBe(200);
    expect((await emulator.fetch(new Request(url, { headers: { authorization } }))).status).toBe(401);
  });
});

describe('routing, accounts and permissions', () => {
  it('serves versions 11 and 12 with version headers; other versions and tailored_audiences are ROUTE_NOT_FOUND', async () => {
    const { call } = setup();
    const v12 = await call('GET', `/12/accounts/${ACCOUNT}`);
    expect(v12.headers.get('x-current-api-version')).toBe('12');
    expect(v12.headers.get('x-api-warn')).toBeNull();
    const v11 = await call('GET', `/11/accounts/${ACCOUNT}`);
    expect(v11.status).toBe(200);
    expect(v11.headers.get('x-api-warn')).toContain('11');
    for (const path of [
      `/10/accounts/${ACCOUNT}`,
      `/12/accounts/${ACCOUNT}/tailored_audiences`,
      '/12/nothing',
    ]) {
      const res = await call('GET', path);
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ errors: [{ code: 'ROUTE_NOT_FOUND' }], request: { params: {} } });
    }
  });

  it('returns the account, the user access and the accessible accounts', async () => {
    const { call } = setup();
    const account = await call('GET', `/12/accounts/${ACCOUNT}`);
    expect(account.json).toMatchObject({
      request: { params: { account_id: ACCOUNT } },
      data: { id: ACCOUNT, approval_status: 'ACCEPTED', created_at: '2024-01-15T09:30:00Z', deleted: false },
    });
    expect(account.headers.get('x-account-rate-limit-limit')).toBe('2000');
    const access = await call('GET', `/12/accounts/${ACCOUNT}/authenticated_user_access`);
    expect(access.json.data).toEqual({
      user_id: USER.user_id,
      permissions: ['ACCOUNT_ADMIN', 'PARTNER_AUDIENCE_MANAGER'],
    });
    const list = await call('GET', '/12/accounts');
    expect(list.json.data.map((a: { id: string }) => a.id)).toEqual([ACCOUNT]);
    expect(list.headers.get('x-rate-limit-limit')).toBe('5');
  });

  it('answers 403 ACCOUNT_NOT_FOUND for an account the user cannot access, on every account route', async () => {
    const { call, emulator } = setup();
    emulator.admin.seed({ accounts: [{ id: 'other', name: 'Other', access: [] }] });
    for (const [method, path] of [
      ['GET', '/12/accounts/other'],
      ['GET', '/12/accounts/other/authenticated_user_access'],
      ['GET', '/12/accounts/other/custom_audiences'],
      ['POST', '/12/accounts/other/custom_audiences?name=x'],
      ['GET', '/12/accounts/missing/custom_audiences/abc'],
    ] as const) {
      const res = await call(method, path);
      expect(res.status, path).toBe(403);
      expect(res.json.errors[0].code).toBe('ACCOUNT_NOT_FOUND');
    }
  });

  it('lets read-only users read but not write (403 ACTION_NOT_ALLOWED)', async () => {
    const { call, emulator } = setup();
    emulator.admin.seed({
      accounts: [
        { id: ACCOUNT, name: 'Demo', access: [{ user_id: USER.user_id, permissions: ['CAMPAIGN_ANALYST'] }] },
      ],
    });
    expect((await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences`)).status).toBe(200);
    const write = await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences?name=x`);
    expect(write.status).toBe(403);
    expect(write.json.errors[0].code).toBe('ACTION_NOT_ALLOWED');
    for (const permission of ['AD_MANAGER', 'PARTNER_AUDIENCE_MANAGER', 'ACCOUNT_ADMIN']) {
      emulator.admin.seed({
        accounts: [
          { id: ACCOUNT, name: 'Demo', access: [{ user_id: USER.user_id, permissions: [permission] }] },
        ],
      });
      expect((await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences?name=${permission}`)).status).toBe(
        200,
      );
    }
  });

  it('models an app without Audience API access: 403 UNAUTHORIZED_CLIENT_APPLICATION', async () => {
    const { call, emulator } = setup();
    emulator.admin.seed({
      apps: [
        { consumer_key: APP.consumer_key, consumer_secret: APP.consumer_secret, audience_access: false },
      ],
    });
    const res = await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences`);
    expect(res.status).toBe(403);
    expect(res.json.errors[0].code).toBe('UNAUTHORIZED_CLIENT_APPLICATION');
  });
});

describe('custom audience CRUD', () => {
  it('creates a placeholder audience from query parameters', async () => {
    const { call } = setup();
    const res = await call(
      'POST',
      `/12/accounts/${ACCOUNT}/custom_audiences?name=developers&description=A%20test`,
    );
    expect(res.status).toBe(200);
    expect(res.json.request.params).toEqual({
      account_id: ACCOUNT,
      name: 'developers',
      description: 'A test',
    });
    expect(res.json.data).toMatchObject({
      name: 'developers',
      description: 'A test',
      audience_type: 'CRM',
      targetable: false,
      targetable_types: ['CRM', 'EXCLUDED_CRM'],
      reasons_not_targetable: ['PROCESSING', 'TOO_SMALL'],
      audience_size: null,
      permission_level: 'READ_WRITE',
      owner_account_id: ACCOUNT,
      partner_source: 'OTHER',
      deleted: false,
      created_at: '2026-11-28T12:00:00Z',
    });
    expect(res.json.data.id).toMatch(/^[0-9a-z]+$/);
    const missing = await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences`);
    expect(missing.status).toBe(400);
    expect(missing.json.errors[0]).toMatchObject({ code: 'MISSING_PARAMETER', parameter: 'name' });
  });

  it("enforces unique names among the account's live audiences; a deleted audience's name is free", async () => {
    const { call, create } = setup();
    const id = await create('dup');
    const again = await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences?name=dup`);
    expect(again.status).toBe(400);
    expect(again.json.errors[0]).toMatchObject({ code: 'INVALID_PARAMETER', parameter: 'name' });
    const other = await create('other');
    expect((await call('PUT', `/12/accounts/${ACCOUNT}/custom_audiences/${other}?name=dup`)).status).toBe(
      400,
    );
    expect((await call('DELETE', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`)).status).toBe(200);
    expect((await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences?name=dup`)).status).toBe(200);
  });

  it("keeps deleted audiences' names when told to", async () => {
    const { call, create } = setup({ deletedAudiencesKeepNames: true });
    const id = await create('dup');
    expect((await call('DELETE', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`)).status).toBe(200);
    const again = await call('POST', `/12/accounts/${ACCOUNT}/custom_audiences?name=dup`);
    expect(again.status).toBe(400);
    expect(again.json.errors[0].message).toContain('deleted audiences keep their names');
    const other = await create('other');
    expect((await call('PUT', `/12/accounts/${ACCOUNT}/custom_audiences/${other}?name=dup`)).status).toBe(
      400,
    );
  });

  it('updates only the supplied fields, unsets description with "", bumps updated_at and shows is_owner', async () => {
    const { call, create, clock } = setup();
    const id = await create('before');
    clock.ms += 5000;
    const res = await call('PUT', `/12/accounts/${ACCOUNT}/custom_audiences/${id}?description=hello`);
    expect(res.json.data).toMatchObject({
      name: 'before',
      description: 'hello',
      is_owner: true,
      updated_at: '2026-11-28T12:00:05Z',
    });
    expect(res.json.data.owner_account_id).toBeUndefined();
    const unset = await call('PUT', `/12/accounts/${ACCOUNT}/custom_audiences/${id}?name=after&description=`);
    expect(unset.json.data).toMatchObject({ name: 'after', description: null });
  });

  it('deletes: deleted:true, then 404 for GET/PUT/DELETE/users unless with_deleted', async () => {
    const { call, create, users } = setup();
    const id = await create('gone');
    const del = await call('DELETE', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`);
    expect(del.json.data.deleted).toBe(true);
    for (const res of [
      await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`),
      await call('PUT', `/12/accounts/${ACCOUNT}/custom_audiences/${id}?name=x`),
      await call('DELETE', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`),
      await users(id, [{ operation_type: 'Update', params: { users: [{ email: [HASH] }] } }]),
    ]) {
      expect(res.status).toBe(404);
      expect(res.json.errors[0].code).toBe('NOT_FOUND');
    }
    const withDeleted = await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences/${id}?with_deleted=true`);
    expect(withDeleted.json.data).toMatchObject({ id, deleted: true });
  });

  it('lists with cursor pagination, q prefix, ids, with_deleted, sort_by and with_total_count', async () => {
    const { call, create } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await create(`Segment ${i}`));
    await create('other');
    await call('DELETE', `/12/accounts/${ACCOUNT}/custom_audiences/${ids[4]}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { json: { data: Array<{ id: string }>; next_cursor: string | null } } = await call(
        'GET',
        `/12/accounts/${ACCOUNT}/custom_audiences?count=2&q=segment${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...res.json.data.map((a) => a.id));
      cursor = res.json.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(ids.slice(0, 4));
    const all = await call(
      'GET',
      `/12/accounts/${ACCOUNT}/custom_audiences?with_deleted=true&with_total_count=true`,
    );
    expect(all.json.total_count).toBe(6);
    expect(all.json.next_cursor).toBeNull();
    const byIds = await call(
      'GET',
      `/12/accounts/${ACCOUNT}/custom_audiences?custom_audience_ids=${ids[0]},${ids[1]}`,
    );
    expect(byIds.json.request.params.custom_audience_ids).toEqual([ids[0], ids[1]]);
    expect(byIds.json.data).toHaveLength(2);
    const sorted = await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences?sort_by=name-desc`);
    expect(sorted.json.data[0].name).toBe('other');
    const exclusive = await call(
      'GET',
      `/12/accounts/${ACCOUNT}/custom_audiences?with_total_count=true&cursor=c-2`,
    );
    expect(exclusive.json.errors[0].code).toBe('EXCLUSIVE_PARAMETERS');
    for (const bad of ['count=0', 'count=1001', 'cursor=zzz', 'sort_by=size-asc', 'permission_scope=ALL']) {
      expect((await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences?${bad}`)).json.errors[0].code).toBe(
        'INVALID_PARAMETER',
      );
    }
    expect((await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences?count=1000`)).status).toBe(200);
  });
});

describe('users endpoint', () => {
  it('applies Update and Delete in order, counts user objects, echoes only path params', async () => {
    const { create, users, emulator } = setup();
    const id = await create('members');
    const res = await users(id, [
      {
        operation_type: 'Update',
        params: { users: [{ email: [hash(1)], twitter_id: [hash(2)] }, { email: [hash(3)] }] },
      },
      { operation_type: 'Delete', params: { users: [{ twitter_id: [hash(2)] }] } },
      { operation_type: 'Update', params: { users: [{ partner_user_id: ['crm-9'] }] } },
    ]);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      request: { params: { account_id: ACCOUNT, custom_audience_id: id } },
      data: { success_count: 4, total_count: 4 },
    });
    const members = emulator.admin.members(ACCOUNT, id);
    expect(members.map((m) => m.email ?? m.partner_user_id)).toEqual([[hash(3)], ['crm-9']]);
    expect(members[0]).toMatchObject({
      effective_at: '2026-11-28T12:00:00Z',
      expires_at: '2027-12-28T12:00:00Z',
    });
  });

  it('is atomic: one bad operation applies nothing and returns operation_errors by index', async () => {
    const { create, users, emulator } = setup();
    const id = await create('atomic');
    const res = await users(id, [
      { operation_type: 'Update', params: { users: [{ email: [hash(1)] }] } },
      { operation_type: 'Update', params: { users: [{ email: [HASH.toUpperCase()] }] } },
    ]);
    expect(res.status).toBe(400);
    expect(res.json.operation_errors[0]).toBeNull();
    expect(res.json.operation_errors[1][0]).toMatchObject({
      code: 'INVALID_PARAMETER',
      parameter: 'users[0].email[0]',
    });
    expect(emulator.admin.members(ACCOUNT, id)).toEqual([]);
  });

  it('requires JSON (415), caps operations (400) and bytes (413)', async () => {
    const { create, users } = setup();
    const id = await create('limits');
    const one = { operation_type: 'Update', params: { users: [{ email: [HASH] }] } };
    expect((await users(id, [one], 'text/plain')).status).toBe(415);
    expect((await users(id, JSON.stringify([one]), '')).status).toBe(415);
    expect(
      (
        await users(
          id,
          Array.from({ length: 2500 }, () => one),
        )
      ).status,
    ).toBe(200);
    const over = await users(
      id,
      Array.from({ length: 2501 }, () => one),
    );
    expect(over.status).toBe(400);
    expect(over.json.errors[0].code).toBe('INVALID_PARAMETER');
    const many = Array.from({ length: 70_000 }, (_, i) => ({ email: [hash(i)] }));
    const big = JSON.stringify([{ operation_type: 'Update', params: { users: many } }]);
    expect(Buffer.byteLength(big)).toBeGreaterThan(5_000_000);
    expect((await users(id, big)).status).toBe(413);
  });

  it('expires members at expires_at and counts them only from effective_at', async () => {
    const { create, users, emulator, clock } = setup();
    const id = await create('expiry');
    await users(id, [
      {
        operation_type: 'Update',
        params: { expires_at: '2026-11-28T12:00:10Z', users: [{ email: [hash(1)] }] },
      },
      {
        operation_type: 'Update',
        params: { effective_at: '2026-11-29T00:00:00Z', users: [{ email: [hash(2)] }] },
      },
    ]);
    expect(emulator.admin.members(ACCOUNT, id)).toHaveLength(2);
    clock.ms += 10_000;
    const members = emulator.admin.members(ACCOUNT, id);
    expect(members).toHaveLength(1);
    expect(members[0]).toMatchObject({ email: [hash(2)], matched: false });
  });
});

describe('processing and sizing', () => {
  it('keeps PROCESSING until the delay passes, then reports TOO_SMALL below 100 and the size from 100', async () => {
    const { call, create, users, clock } = setup({ processingDelayMs: 60_000 });
    const id = await create('sizing');
    await users(id, [
      {
        operation_type: 'Update',
        params: { users: Array.from({ length: 99 }, (_, i) => ({ email: [hash(i)] })) },
      },
    ]);
    const get = () => call('GET', `/12/accounts/${ACCOUNT}/custom_audiences/${id}`);
    expect((await get()).json.data).toMatchObject({
      audience_size: null,
      reasons_not_targetable: ['PROCESSING', 'TOO_SMALL'],
    });
    clock.ms += 60_000;
    expect((await get()).json.data).toMatchObject({
      audience_size: null,
      targetable: false,
      reasons_not_targetable: ['TOO_SMALL'],
    });
    await users(id, [{ operation_type: 'Update', params: { users: [{ email: [hash(500)] }] } }]);
    // A change waiting for processing leaves the audience as it was (X: "the existing audience … is unaffected").
    expect((await get()).json.data.reasons_not_targetable).toEqual(['TOO_SMALL']);
    clock.ms += 60_000;
    expect((await get()).json.data).toMatchObject({
      audience_size: 100,
      targetable: true,
      reasons_not_targetable: [],
    });
  });

  it('sizes with the match rate, deterministic per hash, and processes on demand', async () => {
    const { create, users, emulator } = setup({ matchRate: 0.5 });
    const id = await create('rate');
    // Scores: 0x00… = 0 (matched), 0xff… ≈ 1 (not matched).
    const low = Array.from({ length: 120 }, (_, i) => ({ email: [`00${hash(i).slice(2)}`] }));
    const high = Array.from({ length: 80 }, (_, i) => ({ email: [`ff${hash(i).slice(2)}`] }));
    await users(id, [{ operation_type: 'Update', params: { users: [...low, ...high] } }]);
    expect(emulator.admin.audience(ACCOUNT, id)).toMatchObject({ audience_size: null });
    expect(emulator.admin.memberStats(ACCOUNT, id)).toEqual({ members: 200, active: 200, matched: 120 });
    expect(emulator.admin.process()).toBe(1);
    expect(emulator.admin.audience(ACCOUNT, id)).toMatchObject({ audience_size: 120, targetable: true });
  });
});

describe('rate limits', () => {
  it('sends x-rate-limit-* on every response and 429 TOO_MANY_REQUESTS when spent, until reset', async () => {
    const { call, create, users, clock } = setup({ rateLimits: { users: { limit: 2, windowMs: 60_000 } } });
    const id = await create('rl');
    const body = [{ operation_type: 'Update', params: { users: [{ email: [HASH] }] } }];
    const first = await users(id, body);
    expect(first.headers.get('x-rate-limit-limit')).toBe('2');
    expect(first.headers.get('x-rate-limit-remaining')).toBe('1');
    expect(first.headers.get('x-account-rate-limit-limit')).toBeNull();
    await users(id, body);
    const limited = await users(id, body);
    expect(limited.status).toBe(429);
    expect(limited.json.errors[0].code).toBe('TOO_MANY_REQUESTS');
    const reset = Number(limited.headers.get('x-rate-limit-reset'));
    expect(reset).toBe(Math.ceil(clock.ms / 1000) + 60);
    expect((await call('GET', `/12/accounts/${ACCOUNT}`)).status).toBe(200);
    clock.ms = reset * 1000;
    expect((await users(id, body)).status).toBe(200);
  });
});

describe('faults and the request log', () => {
  it('fires scripted faults for N matching requests, then behaves normally', async () => {
    const { call, emulator } = setup();
    emulator.admin.addFaults({
      faults: [
        { method: 'GET', path: '/accounts/[^/]+$', times: 2, status: 503, headers: { 'retry-after': '7' } },
        { path: '/authenticated_user_access$', status: 404, body: '<html>Not Found</html>' },
        { path: '/custom_audiences$', status: 504 },
      ],
    });
    const a = await call('GET', `/12/accounts/${ACCOUNT}`);
    expect(a.status).toBe(503);
    expect(a.headers.get('retry-after')).toBe('7');
    expect(a.json.errors[0].code).toBe('SERVICE_UNAVAILABLE');
    expect((await call('GET', `/12/accounts/${ACCOUNT}`)).status).toBe(503);
    expect((await call('GET', `/12/accounts/${ACCOUNT}`)).status).toBe(200);
    const html = await call('GET', `/12/accounts/${ACCOUNT}/authenticated_user_access`);
    expect(html.status).toBe(404);
    expect(html.headers.get('content-type')).toContain('text/html');
    const gateway = await call('GET', `/12/accounts/${ACCOUNT}/custom_audiences`);
    expect(gateway.status).toBe(504);
    expect(gateway.text).toBe('');
    expect(emulator.admin.faults().faults).toEqual([]);
  });

  it('drops the connection in-process as a network error and can report a count mismatch', async () => {
    const { call, create, users, emulator } = setup();
    const id = await create('faulty');
    emulator.admin.addFaults({
      faults: [
        { path: '/users$', drop: true },
        { path: '/users$', countMismatch: true },
      ],
    });
    const body = [
      { operation_type: 'Update', params: { users: [{ email: [hash(1)] }, { email: [hash(2)] }] } },
    ];
    await expect(users(id, body)).rejects.toThrow(TypeError);
    const mismatch = await users(id, body);
    expect(mismatch.json.data).toEqual({ success_count: 1, total_count: 2 });
    expect((await users(id, body)).json.data).toEqual({ success_count: 2, total_count: 2 });
    const log = emulator.admin.requests().filter((r) => r.path.endsWith('/users'));
    expect(log.map((r) => [r.status, r.operations, r.users, r.fault])).toEqual([
      [0, null, null, 'drop'],
      [200, 1, 2, 'scripted'],
      [200, 1, 2, null],
    ]);
    expect(log[1]?.bytes).toBe(Buffer.byteLength(JSON.stringify(body)));
    void call;
  });

  it('draws random faults from the configured rates', async () => {
    const { call, emulator } = setup({ random: () => 0 });
    emulator.admin.addFaults({ rates: { rateLimited: 1 } });
    const res = await call('GET', `/12/accounts/${ACCOUNT}`);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-rate-limit-remaining')).toBe('0');
    emulator.admin.clearFaults();
    expect((await call('GET', `/12/accounts/${ACCOUNT}`)).status).toBe(200);
  });
});

describe('PIN login', () => {
  it('issues a request token, authorizes with a PIN, and exchanges it for a working access token', async () => {
    const { emulator, call } = setup();
    const consumer = { key: APP.consumer_key, secret: APP.consumer_secret };
    const rt = await call('POST', '/oauth/request_token', {
      token: null,
      authorization: signRequest({
        method: 'POST',
        url: `${BASE}/oauth/request_token`,
        consumer,
        nonce: 'a',
        timestamp: Math.floor(Date.UTC(2026, 10, 28, 12) / 1000),
        extra: { oauth_callback: 'oob' },
      }),
    });
    expect(rt.status).toBe(200);
    const tokenParams = new URLSearchParams(rt.text);
    expect(tokenParams.get('oauth_callback_confirmed')).toBe('true');
    const requestToken = tokenParams.get('oauth_token')!;
    const page = await emulator.fetch(new Request(`${BASE}/oauth/authorize?oauth_token=${requestToken}`));
    const html = await page.text();
    const pin = /<code id="oauth_pin">(\d+)<\/code>/.exec(html)?.[1];
    expect(pin).toMatch(/^\d{7}$/);
    expect(emulator.admin.pin(requestToken)).toBe(pin);
    const exchange = (verifier: string) =>
      call('POST', '/oauth/access_token', {
        authorization: signRequest({
          method: 'POST',
          url: `${BASE}/oauth/access_token`,
          consumer,
          token: { key: requestToken, secret: tokenParams.get('oauth_token_secret')! },
          nonce: `v${verifier}`,
          timestamp: Math.floor(Date.UTC(2026, 10, 28, 12) / 1000),
          extra: { oauth_verifier: verifier },
        }),
      });
    expect((await exchange('0000000' === pin ? '1111111' : '0000000')).status).toBe(401);
    const access = new URLSearchParams((await exchange(pin!)).text);
    expect(access.get('user_id')).toBe(USER.user_id);
    const token = { key: access.get('oauth_token')!, secret: access.get('oauth_token_secret')! };
    expect((await call('GET', `/12/accounts/${ACCOUNT}`, { token })).status).toBe(200);
  });
});

describe('admin API over HTTP', () => {
  let running: RunningEmulator | undefined;
  let emulator: Emulator | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('seeds, lists members, processes, scripts faults, logs, resets and drops connections', async () => {
    emulator = createEmulator({ seed: null });
    running = await emulator.listen();
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${running!.url}/_emulator${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const bad = await admin('POST', '/seed', { apps: [{ consumer_key: '' }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INVALID_SEED');
    expect((await admin('POST', '/seed', defaultDemoSeed())).status).toBe(200);

    const url = `${running.url}/12/accounts/${ACCOUNT}/custom_audiences?name=http`;
    const auth = (method: string, u: string) =>
      signRequest({
        method,
        url: u,
        consumer: { key: APP.consumer_key, secret: APP.consumer_secret },
        token: { key: USER.token, secret: USER.token_secret },
        nonce: `${Math.random()}`.slice(2),
        timestamp: Math.floor(Date.now() / 1000),
      });
    const created = (await (
      await fetch(url, { method: 'POST', headers: { authorization: auth('POST', url) } })
    ).json()) as {
      data: { id: string };
    };
    const usersUrl = `${running.url}/12/accounts/${ACCOUNT}/custom_audiences/${created.data.id}/users`;
    const body = JSON.stringify([{ operation_type: 'Update', params: { users: [{ email: [HASH] }] } }]);
    const posted = await fetch(usersUrl, {
      method: 'POST',
      headers: { authorization: auth('POST', usersUrl), 'content-type': 'application/json' },
      body,
    });
    expect(posted.status).toBe(200);
    const members = (await (
      await admin('GET', `/accounts/${ACCOUNT}/custom_audiences/${created.data.id}/members`)
    ).json()) as {
      data: Array<{ email: string[] }>;
    };
    expect(members.data[0]?.email).toEqual([HASH]);
    expect(await (await admin('POST', '/process')).json()).toEqual({ data: { processed: 1 } });
    const stats = await admin('GET', `/accounts/${ACCOUNT}/custom_audiences/${created.data.id}/stats`);
    expect(await stats.json()).toEqual({ data: { members: 1, active: 1, matched: 1 } });
    const log = (await (await admin('GET', '/requests')).json()) as {
      data: Array<{ method: string; status: number; bytes: number; operations: number | null }>;
    };
    const filtered = (await (await admin('GET', '/requests?method=post&path=/users')).json()) as {
      data: unknown[];
    };
    expect(filtered.data).toHaveLength(1);
    expect(log.data.at(-1)).toMatchObject({
      method: 'POST',
      status: 200,
      operations: 1,
      bytes: Buffer.byteLength(body),
    });

    expect((await admin('POST', '/faults', { faults: [{ path: '/users$', drop: true }] })).status).toBe(200);
    await expect(
      fetch(usersUrl, {
        method: 'POST',
        headers: { authorization: auth('POST', usersUrl), 'content-type': 'application/json' },
        body,
      }),
    ).rejects.toThrow();
    expect((await admin('POST', '/faults', { faults: [{ times: 0 }] })).status).toBe(400);
    expect((await admin('POST', '/faults', { faults: [{ status: 500 }] })).status).toBe(200);
    expect(
      ((await (await admin('DELETE', '/faults')).json()) as { data: { faults: unknown[] } }).data.faults,
    ).toEqual([]);

    expect((await admin('POST', '/reset')).status).toBe(200);
    expect(
      (await admin('GET', `/accounts/${ACCOUNT}/custom_audiences/${created.data.id}/members`)).status,
    ).toBe(404);
    expect(((await (await admin('GET', '/requests')).json()) as { data: unknown[] }).data).toEqual([]);
  });
});

describe('admin reset', () => {
  it('serves the X API from the fresh state after a reset', async () => {
    const { emulator, create, users } = setup();
    await create('before reset');
    emulator.admin.reset();
    const id = await create('before reset');
    const res = await users(id, [{ operation_type: 'Update', params: { users: [{ email: [HASH] }] } }]);
    expect(res.status).toBe(200);
    expect(emulator.admin.members(ACCOUNT, id).map((m) => m.email)).toEqual([[HASH]]);
  });
});
