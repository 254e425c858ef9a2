// HTTP ingest throughput: profile events per second and p99 acknowledgement latency of POST /api/v1/ingest/profiles
// at a fixed concurrency, against a real `tca start` child process on loopback (SQLite in a temp dir), driven by
// autocannon. Every request carries distinct profiles and its own Idempotency-Key, so nothing is deduplicated away.
// The floor is GET /healthz (no auth, no body, no store) at the same concurrency on the same server: the ratio shows
// what ingest costs on top of HTTP itself.
//
// Run: node bin/run-ts.js bench/http-ingest.bench.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error autocannon ships no type declarations
import autocannonModule from 'autocannon';
import { adminApi, freePort, pausedDataflowOverApi, startApiService, waitReady } from './fixture.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  duration: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = autocannonModule as Autocannon;

const CONNECTIONS = 16;
// TCA_BENCH_BATCH changes the profiles per request (e.g. 1000) to show how batching amortizes the per-commit cost.
const PROFILES_PER_REQUEST = Number(process.env['TCA_BENCH_BATCH'] ?? 100);
const DURATION_S = 10;
const TARGET_EVENTS_PER_S = 30_000;
const TARGET_P99_MS = 250;

const dir = await mkdtemp(join(tmpdir(), 'tca-bench-http-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const child = startApiService(
  join(dir, 'data'),
  port,
  process.env['TCA_BENCH_SERVER_NODE_ARGS']?.split(' ') ?? [],
);

try {
  await waitReady(url, Date.now() + 120_000);
  const { token, api } = await adminApi(url, join(dir, 'data'));
  const segments = ['seg-loyal', 'seg-cart', 'seg-vip'];
  await pausedDataflowOverApi(api, 'Bench flow', segments, [
    { sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true },
    { sourceType: 'namespace', source: 'Phone', target: 'phone_number', applyTransformation: true },
  ]);

  let counter = 0;
  // Bodies are built from a template (the same JSON JSON.stringify would give), so the load generator, which shares
  // the machine with the server, spends as little CPU as it can.
  const profileLine = (k: number) => {
    const phone =
      k % 3 === 0 ? `,"Phone":[{"id":"+1415${String(2000000 + (k % 7000000)).padStart(7, '0')}"}]` : '';
    const status = k % 10 === 0 ? 'exited' : 'realized';
    return `{"identityMap":{"ECID":[{"id":"ecid-${k}"}],"Email":[{"id":"user${k}@example.com"}]${phone}},"segmentMembership":{"ups":{"${segments[k % 3]!}":{"status":"${status}"}}}}`;
  };
  const body = (n: number) => {
    const lines: string[] = [];
    for (let i = 0; i < PROFILES_PER_REQUEST; i++) lines.push(profileLine(n * PROFILES_PER_REQUEST + i));
    return lines.join('\n');
  };
  // The template must stay the JSON of the profile it stands for.
  const sample = 3;
  const expected = JSON.stringify({
    identityMap: {
      ECID: [{ id: `ecid-${sample}` }],
      Email: [{ id: `user${sample}@example.com` }],
      Phone: [{ id: `+1415${String(2000000 + sample).padStart(7, '0')}` }],
    },
    segmentMembership: { ups: { [segments[sample % 3]!]: { status: 'realized' } } },
  });
  if (profileLine(sample) !== expected) throw new Error(`body template drifted: ${profileLine(sample)}`);

  // Warm-up (JIT, SQLite page cache), then the measured runs.
  const ingestRun = (duration: number) =>
    autocannon({
      url,
      connections: CONNECTIONS,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/api/v1/ingest/profiles',
          setupRequest: (req: Record<string, unknown>) => {
            const n = counter++;
            return {
              ...req,
              headers: {
                authorization: `Bearer ${token}`,
                'content-type': 'application/x-ndjson',
                'idempotency-key': `bench-${n}`,
              },
              body: body(n),
            };
          },
        },
      ],
    });
  await ingestRun(2);
  const ingest = await ingestRun(DURATION_S);
  const floor = await autocannon({ url: `${url}/healthz`, connections: CONNECTIONS, duration: DURATION_S });

  const eventsPerS = ingest.requests.average * PROFILES_PER_REQUEST;
  const ok = ingest.non2xx === 0 && ingest.errors === 0;
  const ratio = ingest.requests.average / floor.requests.average;
  console.log(
    `concurrency ${CONNECTIONS}, ${PROFILES_PER_REQUEST} profiles per request (NDJSON), ${DURATION_S} s`,
  );
  console.log(
    `ingest:  ${Math.round(eventsPerS).toLocaleString('en-US')} events/s  (${Math.round(ingest.requests.average)} req/s), p50 ${ingest.latency.p50} ms, p99 ${ingest.latency.p99} ms, non-2xx ${ingest.non2xx}, errors ${ingest.errors}`,
  );
  console.log(
    `floor:   GET /healthz ${Math.round(floor.requests.average)} req/s, p99 ${floor.latency.p99} ms`,
  );
  console.log(
    `ratio:   ingest requests/s ÷ floor requests/s = ${ratio.toFixed(3)} (each ingest request carries ${PROFILES_PER_REQUEST} events)`,
  );
  console.log(
    `target:  ≥ ${TARGET_EVENTS_PER_S.toLocaleString('en-US')} events/s and p99 < ${TARGET_P99_MS} ms → ${eventsPerS >= TARGET_EVENTS_PER_S && ingest.latency.p99 < TARGET_P99_MS && ok ? 'met' : 'NOT met'}`,
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  await rm(dir, { recursive: true, force: true });
}
