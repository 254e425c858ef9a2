import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulator, defaultDemoSeed } from '../../src/emulator/index.ts';
import { createPostgresDatabase } from '../store/backends.ts';
import { callerFor, DEMO, waitFor, type TestService } from './harness.ts';

// The scaled-out deployment as operators run it: `tca start` processes of their own on one PostgreSQL database with
// one secret key, two `api` processes taking the profiles (behind a load balancer) and two `worker` processes
// delivering them to X (the emulator, over loopback HTTP). All four start at once on an empty database, as a
// deployment's pods do.

const ROOT = resolve(import.meta.dirname, '..', '..');
/** A full request's worth (the worker delivers an audience once 25,000 changes wait) and a few more. */
const PER_SEGMENT = 25_100;
/** Profiles per ingest request (the API takes up to 10,000). */
const CHUNK = 10_000;
const SEGMENTS = ['so-a', 'so-b'];

interface Proc {
  child: ChildProcess;
  url: string;
  dir: string;
  log: string[];
}

let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
let emulator: ReturnType<typeof createEmulator>;
let emulatorUrl: string;
let closeEmulator: () => Promise<void>;
const procs: Proc[] = [];
let api: Proc;
let api2: Proc;
let workers: Proc[];
let call: TestService['call'];
let call2: TestService['call'];
let token: string;

async function startProcess(role: 'api' | 'worker', env: Record<string, string>): Promise<Proc> {
  const dir = await mkdtemp(join(tmpdir(), `tca-scale-${role}-`));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tca.js'), 'start', '--role', role], {
    env: {
      ...process.env,
      TCA_DATA_DIR: dir,
      TCA_PORT: '0',
      TCA_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const proc = { child, dir, log, url: '' };
  procs.push(proc);
  let buffered = '';
  const collect = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    log.push(...lines);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  proc.url = await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${role} exited (${child.exitCode}):\n${log.join('\n')}`);
      for (const line of log) {
        const found = /"url":"(http:\/\/[^"]+)".*"msg":"service started"/.exec(line);
        if (found) return found[1];
      }
      return undefined;
    },
    60_000,
    `the ${role} process to start`,
  );
  return proc;
}

/** The users requests a process sent to X, from its Prometheus metrics. */
async function usersRequests(proc: Proc): Promise<number> {
  const text = await (await fetch(`${proc.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('tca_x_requests_total{') || !/endpoint="[^"]*users/.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function profiles(segment: string, from: number, to: number, status: 'realized' | 'exited') {
  const items = [];
  for (let i = from; i < to; i += 1)
    items.push({
      identityMap: { ECID: [{ id: `${segment}-ecid-${i}` }], Email: [{ id: `${segment}.${i}@Example.com` }] },
      segmentMembership: { ups: { [segment]: { status, lastQualificationTime: '2026-06-01T00:00:00Z' } } },
    });
  return items;
}

/** Sends the profiles `first..first+count` of `segment` with `status` to an api process, in requests of `CHUNK`. */
async function ingest(
  segment: string,
  count: number,
  status: 'realized' | 'exited',
  first = 0,
  via: TestService['call'] = call,
): Promise<void> {
  for (let from = first; from < first + count; from += CHUNK) {
    const sent = await via('POST', '/api/v1/ingest/profiles', {
      token,
      body: profiles(segment, from, Math.min(first + count, from + CHUNK), status),
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
  }
}

async function membersAtX(xAudienceId: string): Promise<number> {
  return emulator.admin.members(DEMO.accountId, xAudienceId).length;
}

beforeAll(async () => {
  database = await createPostgresDatabase('tca_scale');
  emulator = createEmulator({ seed: defaultDemoSeed() });
  const running = await emulator.listen({ port: 0, host: '127.0.0.1' });
  emulatorUrl = running.url;
  closeEmulator = running.close;
  const env = {
    TCA_DATABASE_URL: database.url,
    TCA_SECRET_KEY: randomBytes(32).toString('hex'),
    TCA_X_API_BASE_URL: emulatorUrl,
  };
  // Every process migrates the empty database at start-up; they start together.
  [api, api2, ...workers] = await Promise.all([
    startProcess('api', env),
    startProcess('api', env),
    startProcess('worker', env),
    startProcess('worker', env),
  ]);
  call = callerFor(api.url);
  call2 = callerFor(api2.url);
}, 120_000);

afterAll(async () => {
  for (const { child } of procs) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(
    procs.map(({ child }) =>
      child.exitCode === null ? new Promise((r) => child.once('exit', r)) : Promise.resolve(),
    ),
  );
  await closeEmulator?.();
  await database?.drop();
  for (const { dir } of procs) await rm(dir, { recursive: true, force: true });
});

describe('two api processes and two worker processes on one PostgreSQL database', () => {
  it('start together on an empty database: each is ready, and one api process issued the one admin token', async () => {
    for (const proc of procs) expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);
    // Workers serve no API: they issue no token, even when they migrated the database first.
    for (const worker of workers) expect(existsSync(join(worker.dir, 'admin-token'))).toBe(false);
    const issuers = [api, api2].filter((proc) => existsSync(join(proc.dir, 'admin-token')));
    expect(issuers).toHaveLength(1);
    token = (await readFile(join(issuers[0]!.dir, 'admin-token'), 'utf8')).trim();
    expect(issuers[0]!.log.some((line) => line.includes(token))).toBe(true);
    expect((await call('GET', '/api/v1/destinations', { token })).status).toBe(200);
    expect((await call2('GET', '/api/v1/destinations', { token })).status).toBe(200);
  });

  it('deliver what the api processes take in, through the workers only, each change once', async () => {
    for (const id of SEGMENTS) {
      const made = await call('POST', '/api/v1/segments', { token, body: { id, name: `Scale ${id}` } });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
    }
    const destination = await call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'Scale-out', accountId: DEMO.accountId, credentials: DEMO.credentials },
    });
    expect(destination.status, JSON.stringify(destination.body)).toBe(201);
    const dataflow = await call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'Scale-out dataflow',
        destinationId: destination.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: SEGMENTS.map((segmentId) => ({ segmentId, mappingName: `Scale ${segmentId}` })),
      },
    });
    expect(dataflow.status, JSON.stringify(dataflow.body)).toBe(201);

    // More than a full request's worth per audience: the workers deliver them without a flush.
    // Each api process takes one segment's profiles, at the same time.
    await Promise.all([
      ingest('so-a', PER_SEGMENT, 'realized', 0, call),
      ingest('so-b', PER_SEGMENT, 'realized', 0, call2),
    ]);
    const audiences = await waitFor(
      async () => {
        const listed = await call('GET', `/api/v1/audiences?dataflowId=${dataflow.body.id}`, { token });
        const items = listed.body.items as Array<{ segmentId: string; xAudienceId: string | null }>;
        if (items.length !== SEGMENTS.length || items.some((a) => a.xAudienceId === null)) return undefined;
        for (const a of items) if ((await membersAtX(a.xAudienceId!)) !== PER_SEGMENT) return undefined;
        return new Map(items.map((a) => [a.segmentId, a.xAudienceId!]));
      },
      60_000,
      'both X audiences to hold every member',
    );

    // Members leave one audience: a full request's worth of removals, delivered by the workers as well.
    const leaving = 25_050;
    await ingest('so-a', leaving, 'exited');
    await waitFor(
      async () => ((await membersAtX(audiences.get('so-a')!)) === PER_SEGMENT - leaving ? true : undefined),
      60_000,
      'the removals to reach X',
    );
    expect(await membersAtX(audiences.get('so-b')!)).toBe(PER_SEGMENT);

    // The api processes sent nothing to X; the workers sent every users request X received, none twice: as many as
    // the changes need: one request per audience for its adds, one for the removals (each fits X's 5,000,000 bytes).
    const sentByWorkers = (await usersRequests(workers[0]!)) + (await usersRequests(workers[1]!));
    expect(await usersRequests(api)).toBe(0);
    expect(await usersRequests(api2)).toBe(0);
    const received = emulator.admin.requests().filter((r) => r.path.endsWith('/users')).length;
    expect(sentByWorkers).toBe(received);
    expect(received).toBe(SEGMENTS.length + 1);

    // A rolling restart: one worker stops (SIGTERM: it finishes what it holds and exits), the other delivers alone.
    const stopping = workers[0]!;
    const sentByOther = await usersRequests(workers[1]!);
    stopping.child.kill('SIGTERM');
    const [code] = (await once(stopping.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    await ingest('so-b', PER_SEGMENT, 'realized', PER_SEGMENT);
    await waitFor(
      async () => ((await membersAtX(audiences.get('so-b')!)) === 2 * PER_SEGMENT ? true : undefined),
      60_000,
      'the remaining worker to deliver',
    );
    expect(await usersRequests(workers[1]!)).toBe(sentByOther + 1);
    expect(emulator.admin.requests().filter((r) => r.path.endsWith('/users'))).toHaveLength(received + 1);
  }, 120_000);
});
