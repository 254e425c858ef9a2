// What the benchmarks share: the emulator's demo credentials, an activated dataflow in the store, a loopback port and
// a service to wait for, and the CSV parse+hash floor.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse';
import { applyMapping, type MappingRow } from '../src/audience/mapping.ts';
import { parseCsvProfileHeader, parseCsvProfileRow, type CsvProfileLayout } from '../src/profile/index.ts';
import { defaultDemoSeed } from '../src/emulator/index.ts';
import type { Audience, Store } from '../src/store/index.ts';

const seed = defaultDemoSeed();

/** The X account and credentials of the emulator's demo seed. */
export const BENCH_ACCOUNT = seed.accounts[0]!.id;
export const BENCH_CREDENTIALS = {
  consumerKey: seed.users[0]!.consumer_key,
  consumerSecret: seed.apps[0]!.consumer_secret,
  accessToken: seed.users[0]!.token,
  accessTokenSecret: seed.users[0]!.token_secret,
};

/** A destination on the demo account and a dataflow activating one audience per segment, from the start. */
export async function benchDataflow(
  store: Store,
  mapping: MappingRow[],
  segments: readonly string[],
): Promise<Audience[]> {
  const destination = await store.destinations.create({
    sandboxId: 'prod',
    name: 'bench',
    accountId: BENCH_ACCOUNT,
    credentials: BENCH_CREDENTIALS,
    status: 'active',
  });
  const flow = await store.dataflows.create({
    sandboxId: 'prod',
    destinationId: destination.id,
    name: 'bench',
    mapping,
  });
  const audiences: Audience[] = [];
  for (const segmentId of segments) {
    audiences.push(
      await store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId,
        mappingName: `Bench ${segmentId}`,
        startDate: 0,
      }),
    );
  }
  return audiences;
}

/** Email and E.164 phone, both normalized and hashed here: the mapping the benchmarks activate. */
export const EMAIL_PHONE_MAPPING = [
  { sourceType: 'namespace' as const, source: 'Email', target: 'email' as const, applyTransformation: true },
  {
    sourceType: 'namespace' as const,
    source: 'Phone_E.164',
    target: 'phone_number' as const,
    applyTransformation: true,
  },
];

/**
 * Starts `tca start --role api` (no delivery workers; X unreachable) with its data in `dataDir` on `port`; `nodeArgs`
 * go to node before the script.
 */
export function startApiService(
  dataDir: string,
  port: number,
  nodeArgs: readonly string[] = [],
): ChildProcess {
  return spawn(
    process.execPath,
    [...nodeArgs, join(resolve(import.meta.dirname, '..'), 'bin', 'tca.js'), 'start', '--role', 'api'],
    {
      env: {
        ...process.env,
        TCA_DATA_DIR: dataDir,
        TCA_PORT: String(port),
        TCA_LOG_LEVEL: 'warn',
        TCA_X_API_BASE_URL: 'http://127.0.0.1:9',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

/**
 * A JSON caller of a service started by `startApiService`, with the admin token it wrote to `dataDir` (read once the
 * service is ready); it throws on a non-2xx answer.
 */
export async function adminApi(
  url: string,
  dataDir: string,
): Promise<{ token: string; api(method: string, path: string, body: unknown): Promise<{ id: string }> }> {
  const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  return {
    token,
    async api(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string };
    },
  };
}

/**
 * Over a service's API (see `adminApi`): the segments, a destination on the demo account and a dataflow activating
 * them, paused, so what a benchmark measures is ingest (durable ledger writes), not delivery.
 */
export async function pausedDataflowOverApi(
  api: (method: string, path: string, body: unknown) => Promise<{ id: string }>,
  name: string,
  segments: readonly string[],
  mapping: readonly MappingRow[],
): Promise<void> {
  for (const id of segments) await api('POST', '/api/v1/segments', { id, name: `Bench ${id}` });
  const destination = await api('POST', '/api/v1/destinations', {
    name: 'Bench',
    accountId: seed.accounts[0]!.id,
  });
  await api('POST', '/api/v1/dataflows', {
    name,
    destinationId: destination.id,
    mapping,
    audiences: segments.map((segmentId) => ({ segmentId })),
    status: 'paused',
  });
}

/** Streams a CSV file to a service's `POST /api/v1/imports`; the status and the import report it answered. */
export async function uploadCsv(
  url: string,
  token: string,
  file: string,
): Promise<{ status: number; report: { accepted?: number } & Record<string, unknown> }> {
  const res = await fetch(`${url}/api/v1/imports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
    duplex: 'half',
  } as RequestInit);
  return {
    status: res.status,
    report: (await res.json()) as { accepted?: number } & Record<string, unknown>,
  };
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => r(port));
    });
  });
}

/** Resolves once `url`/readyz answers 2xx; throws after `deadline` (epoch ms). */
export async function waitReady(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The CSV floor: read a profile CSV, parse each row, map and hash its identifiers, on this thread. Returns the rows
 * parsed per second and how many were (rows the model refuses are skipped).
 */
export async function csvParseHashFloor(
  file: string,
  mapping: readonly MappingRow[],
): Promise<{ rowsPerSecond: number; rows: number }> {
  const start = performance.now();
  let layout: CsvProfileLayout | null = null;
  let rows = 0;
  const records = createReadStream(file).pipe(parseCsv({ info: true, relax_column_count: true }));
  for await (const { record, info } of records as AsyncIterable<{
    record: string[];
    info: { lines: number };
  }>) {
    if (layout === null) {
      const header = parseCsvProfileHeader(record);
      if (!header.ok) throw new Error('bad header');
      layout = header.layout;
      continue;
    }
    const parsed = parseCsvProfileRow(layout, record, {
      line: info.lines,
      lastQualificationTime: '2026-06-01T00:00:00Z',
    });
    if (!parsed.ok) continue;
    for (const row of mapping) applyMapping([row], parsed.profile);
    rows += 1;
  }
  return { rowsPerSecond: rows / ((performance.now() - start) / 1000), rows };
}
