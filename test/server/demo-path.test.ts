import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor, type Json } from './harness.ts';

// The README's demo path as a new user runs it: `tca start --demo` in a fresh directory, then again on the same data.

const ROOT = resolve(import.meta.dirname, '..', '..');
let dir: string;
const children: ChildProcess[] = [];

function startDemo(): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tca.js'), 'start', '--demo'], {
    cwd: dir,
    env: {
      ...process.env,
      TCA_DATA_DIR: join(dir, 'data'),
      TCA_PORT: '0',
      TCA_EMULATOR_PORT: '0',
      TCA_LOG_LEVEL: 'warn',
      TCA_X_API_BASE_URL: '',
      // A fresh machine without an egress proxy (empty counts as unset).
      HTTPS_PROXY: '',
      https_proxy: '',
      HTTP_PROXY: '',
      http_proxy: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function get(url: string, token?: string): Promise<Json> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm start (tca start --demo)', () => {
  it('starts on a fresh machine, fills the emulator audiences, and re-runs without duplicates', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tca-demo-'));
    const first = startDemo();
    const out = await waitFor(
      async () => {
        if (first.child.exitCode !== null)
          throw new Error(`tca start --demo exited ${first.child.exitCode}:\n${first.output()}`);
        return first.output().includes('Stop with Ctrl-C') ? first.output() : undefined;
      },
      150_000,
      'the demo summary',
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- output ---\n${first.output()}`);
    });
    const api = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(out)?.[1];
    const emulator = /Emulator:\s+(http:\/\/\S+)/.exec(out)?.[1];
    const token = /Admin token[^\n]*\n\s+(tca_\S+)/.exec(out)?.[1];
    expect(api).toBeDefined();
    expect(emulator).toBeDefined();
    expect(token).toBeDefined();
    expect(out).toMatch(/Identities activated: [1-9]/);
    expect(out).toMatch(/Excluded by reason: .*no_mappable_identifier/);

    const tokenFile = join(dir, 'data', 'admin-token');
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect((await readFile(tokenFile, 'utf8')).trim()).toBe(token);

    expect((await get(`${api}/readyz`)).status).toBe(200);
    // "Log in with X" is one click in the demo: the emulator's app is the service's default.
    expect((await get(`${api}/api/v1/settings`, token)).body).toEqual({
      xLogin: { defaultApp: true },
      importUrls: { origins: [] },
      // The admin token may read the audit trail: it is told the trail is not pushed anywhere.
      auditForward: null,
      outboundProxy: null,
      alertWebhook: null,
      alertPagerDuty: null,
      alertEmail: null,
    });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${api}/api/v1/destinations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'One click login', accountId: '18ce54d4x5t' }),
    }).then((r) => r.json() as Promise<Json>);
    const login = await fetch(`${api}/api/v1/destinations/${created.id}/login`, {
      method: 'POST',
      headers,
      body: '{}',
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as Json).authorizeUrl).toContain(emulator);
    expect(
      (await fetch(`${api}/api/v1/destinations/${created.id}`, { method: 'DELETE', headers })).status,
    ).toBe(204);
    const audiences = (await get(`${api}/api/v1/audiences`, token)).body.items as Array<{
      xAudienceId: string;
      name: string;
    }>;
    expect(audiences.length).toBe(3);
    for (const a of audiences) {
      const members = await get(
        `${emulator}/_emulator/accounts/18ce54d4x5t/custom_audiences/${a.xAudienceId}/members`,
      );
      expect(members.status, a.name).toBe(200);
      expect(members.body.total_count, a.name).toBeGreaterThan(100);
    }

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = startDemo();
    const out2 = await waitFor(
      async () => (second.output().includes('Stop with Ctrl-C') ? second.output() : undefined),
      150_000,
      'the second summary',
    );
    expect(out2).not.toMatch(/tca_\S{20,}/); // the admin token is printed once only
    const api2 = /API:\s+(http:\/\/\S+)\/api\/v1/.exec(out2)![1];
    const emulator2 = /Emulator:\s+(http:\/\/\S+)/.exec(out2)![1];
    expect((await get(`${api2}/api/v1/destinations`, token)).body.items.length).toBe(1);
    expect((await get(`${api2}/api/v1/dataflows`, token)).body.items.length).toBe(1);
    expect((await get(`${api2}/api/v1/segments`, token)).body.items.length).toBe(3);
    const again = (await get(`${api2}/api/v1/audiences`, token)).body.items as Array<{ xAudienceId: string }>;
    expect(again.length).toBe(3);
    for (const a of again) {
      const members = await get(
        `${emulator2}/_emulator/accounts/18ce54d4x5t/custom_audiences/${a.xAudienceId}/members`,
      );
      expect(members.body.total_count).toBeGreaterThan(100);
    }
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 400_000);
});
