// Bursts against a real `tca start` child process on loopback (SQLite in a temp dir): many ingest senders at once,
// and many file uploads at once. Each reports the service's peak RSS and the time to take everything, against a floor
// measured on a fresh service in the same run: the same profiles from few senders (16 ingest connections; one upload
// at a time). Senders retry a 503 after its Retry-After, as AEP does; every profile must end up accepted.
//
// Knobs: BURST_BENCH_SENDERS (default 256) × BURST_BENCH_PROFILES per request (2,000) × BURST_BENCH_REQUESTS (512);
// BURST_BENCH_UPLOADS (6) × BURST_BENCH_ROWS (100,000). Service settings (TCA_INGEST_MAX_PENDING_BYTES,
// TCA_MAX_CONCURRENT_IMPORTS, …) pass through from the environment.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminApi,
  EMAIL_PHONE_MAPPING,
  freePort,
  pausedDataflowOverApi,
  startApiService,
  uploadCsv,
  waitReady,
} from './fixture.ts';

const SENDERS = Number(process.env['BURST_BENCH_SENDERS'] ?? 256);
const PER_REQUEST = Number(process.env['BURST_BENCH_PROFILES'] ?? 2000);
const REQUESTS = Number(process.env['BURST_BENCH_REQUESTS'] ?? 512);
const UPLOADS = Number(process.env['BURST_BENCH_UPLOADS'] ?? 6);
const ROWS = Number(process.env['BURST_BENCH_ROWS'] ?? 100_000);
const SEGMENT = 'seg-burst';

interface Outcome {
  seconds: number;
  peakRssMb: number;
  /** The Retry-After of each refusal. */
  refused: number[];
  accepted: number;
}

/** Starts a service with a paused dataflow, runs `load` against it, and reports the service's peak RSS. */
async function withService(
  load: (url: string, token: string) => Promise<{ refused: number[]; accepted: number }>,
): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), 'tca-bench-burst-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startApiService(join(dir, 'data'), port);
  try {
    await waitReady(url, Date.now() + 120_000);
    const { token, api } = await adminApi(url, join(dir, 'data'));
    await pausedDataflowOverApi(api, 'Bench burst flow', [SEGMENT], EMAIL_PHONE_MAPPING);
    const start = performance.now();
    const { refused, accepted } = await load(url, token);
    const seconds = (performance.now() - start) / 1000;
    // VmHWM: the most resident memory the service has had since it started.
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
    return { seconds, peakRssMb, refused, accepted };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await rm(dir, { recursive: true, force: true });
  }
}

/** `requests` NDJSON ingest requests from `senders` at once, each retried after Retry-After while refused. */
function ingestLoad(senders: number) {
  return async (url: string, token: string) => {
    let next = 0;
    /** The Retry-After of each refusal. */
    const refused: number[] = [];
    let accepted = 0;
    const sender = async () => {
      for (let n = next++; n < REQUESTS; n = next++) {
        const lines: string[] = [];
        for (let i = 0; i < PER_REQUEST; i += 1) {
          const k = n * PER_REQUEST + i;
          lines.push(
            `{"identityMap":{"ECID":[{"id":"ecid-${k}"}],"Email":[{"id":"user${k}@example.com"}]},"segmentMembership":{"ups":{"${SEGMENT}":{"status":"realized"}}}}`,
          );
        }
        const body = lines.join('\n');
        for (;;) {
          const res = await fetch(`${url}/api/v1/ingest/profiles`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/x-ndjson',
              'idempotency-key': `burst-${n}`,
            },
            body,
          });
          const result = (await res.json()) as { accepted?: number };
          if (res.status === 202) {
            accepted += result.accepted ?? 0;
            break;
          }
          if (res.status !== 503) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(result)}`);
          const retryAfter = Number(res.headers.get('retry-after') ?? 1);
          refused.push(retryAfter);
          await new Promise((r) => setTimeout(r, retryAfter * 1000));
        }
      }
    };
    await Promise.all(Array.from({ length: senders }, sender));
    return { refused, accepted };
  };
}

/** Every file uploaded to `POST /api/v1/imports`, all at once or one after another. */
function uploadLoad(files: readonly string[], atOnce: boolean) {
  return async (url: string, token: string) => {
    const upload = async (file: string) => {
      const { status, report } = await uploadCsv(url, token, file);
      if (status !== 200) throw new Error(`upload answered ${status}: ${JSON.stringify(report)}`);
      return report.accepted ?? 0;
    };
    let accepted = 0;
    if (atOnce) for (const n of await Promise.all(files.map(upload))) accepted += n;
    else for (const file of files) accepted += await upload(file);
    return { refused: [], accepted };
  };
}

function refusals(retryAfter: readonly number[]): string {
  if (retryAfter.length === 0) return '0 refused';
  const sorted = [...retryAfter].sort((a, b) => a - b);
  return `${sorted.length} refused and sent again after Retry-After ${sorted[0]}-${sorted.at(-1)} s (median ${sorted[sorted.length >> 1]})`;
}

function line(label: string, o: Outcome): string {
  return `${label.padEnd(34)} ${o.seconds.toFixed(1).padStart(6)} s, peak RSS ${Math.round(o.peakRssMb).toLocaleString('en-US').padStart(5)} MB, ${o.accepted.toLocaleString('en-US')} accepted, ${refusals(o.refused)}`;
}

const dir = await mkdtemp(join(tmpdir(), 'tca-bench-burst-files-'));
try {
  const files: string[] = [];
  for (let f = 0; f < UPLOADS; f += 1) {
    const file = join(dir, `members-${f}.csv`);
    const out = createWriteStream(file);
    out.write(`profile_key,email,phone_e164,segment:${SEGMENT}\n`);
    for (let i = 0; i < ROWS; i += 1)
      if (!out.write(`crm-${f}-${i},p${f}.${i}@example.com,,1\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    files.push(file);
  }
  const profiles = REQUESTS * PER_REQUEST;
  console.log(
    `ingest: ${REQUESTS} requests × ${PER_REQUEST.toLocaleString('en-US')} profiles (${profiles.toLocaleString('en-US')}); uploads: ${UPLOADS} × ${ROWS.toLocaleString('en-US')} CSV rows`,
  );
  const ingestFloor = await withService(ingestLoad(16));
  console.log(line('ingest, 16 senders (floor):', ingestFloor));
  const ingestBurst = await withService(ingestLoad(SENDERS));
  console.log(line(`ingest, ${SENDERS} senders at once:`, ingestBurst));
  const uploadFloor = await withService(uploadLoad(files, false));
  console.log(line('uploads, one after another (floor):', uploadFloor));
  const uploadBurst = await withService(uploadLoad(files, true));
  console.log(line(`uploads, ${UPLOADS} at once:`, uploadBurst));
  for (const [what, o, expected] of [
    ['ingest', ingestFloor, profiles],
    ['ingest burst', ingestBurst, profiles],
    ['uploads', uploadFloor, UPLOADS * ROWS],
    ['upload burst', uploadBurst, UPLOADS * ROWS],
  ] as const)
    if (o.accepted !== expected) throw new Error(`${what}: ${o.accepted} accepted, ${expected} sent`);
  console.log(
    `burst / floor: ingest time ${(ingestBurst.seconds / ingestFloor.seconds).toFixed(2)}x, RSS ${(ingestBurst.peakRssMb / ingestFloor.peakRssMb).toFixed(2)}x; uploads time ${(uploadBurst.seconds / uploadFloor.seconds).toFixed(2)}x, RSS ${(uploadBurst.peakRssMb / uploadFloor.peakRssMb).toFixed(2)}x`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
