// End-to-end throughput of the engine: a profile-export NDJSON file imported into SQLite and delivered to the X
// emulator (a `tca emulator` process of its own, over loopback HTTP, as X would be), against a parse+hash floor
// (read the same file, parse and validate each profile, map and hash its identifiers, in a process of its own) measured
// in the same run, before and after the end-to-end run (the ratio uses their mean).
// `ENGINE_BENCH_EVENTS` sets the size (default 1,000,000), `ENGINE_BENCH_BATCH` the import batch size,
// `ENGINE_BENCH_THREADS` the import worker threads (default: the engine's, one per core beyond the first),
// `ENGINE_BENCH_FORMAT=csv` uses a CSV file (profile_key, email, phone_e164, segment columns) instead of NDJSON,
// `ENGINE_BENCH_CRM_ID=1` gives each NDJSON profile a CRM id besides its ECID (a second key namespace),
// `ENGINE_BENCH_KEY_ALIASES=1` imports into a sandbox that looks later key namespaces' ids up, as one that holds a
// profile keyed by its CRM id alone does (with `ENGINE_BENCH_CRM_ID=1`, each profile's CRM id is then looked up),
// `ENGINE_BENCH_DATABASE_URL=postgres://…` runs on that PostgreSQL server instead of SQLite (a database of its own per
// run, made and dropped with that URL's role; the CPU seconds below leave out the server's), and
// `ENGINE_BENCH_RUNS` repeats the end-to-end run on fresh stores (each between two floors) and reports the median ratio:
// on a shared machine one run's ratio moves by a tenth or more. Two bounds follow each run's ratio: the CPU seconds of
// both processes spread over every core, and the busy time of the main thread, the store's only writer, on its own.
// On Linux it also prints what the process read and wrote in each phase (the file, the store, its WAL, checkpoints).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, createWriteStream, createReadStream } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { applyMapping } from '../src/audience/mapping.ts';
import { createEngine } from '../src/engine/index.ts';
import { enableKeyAliases } from '../src/engine/ingest.ts';
import { parseProfileExport } from '../src/profile/index.ts';
import { openStore } from '../src/store/index.ts';
import { RateBudgets, XAdsClient } from '../src/xads/index.ts';
import { createPostgresDatabase } from '../test/store/backends.ts';
import {
  BENCH_ACCOUNT,
  BENCH_CREDENTIALS,
  benchDataflow,
  csvParseHashFloor,
  EMAIL_PHONE_MAPPING,
} from './fixture.ts';

const EVENTS = Number(process.env.ENGINE_BENCH_EVENTS ?? 1_000_000);
/** A PostgreSQL server to run on instead of SQLite: each run makes a database of its own there and drops it after. */
const DATABASE_URL = process.env.ENGINE_BENCH_DATABASE_URL;
const RUNS = Math.max(1, Number(process.env.ENGINE_BENCH_RUNS ?? 1));
/** Each NDJSON profile carries a CRM id besides its ECID, as AEP exports of known customers do. */
const WITH_CRM_ID = process.env.ENGINE_BENCH_CRM_ID === '1';
const KEY_ALIASES = process.env.ENGINE_BENCH_KEY_ALIASES === '1';
/** The SQLite page cache in MiB, as the service takes it (default `SQLITE_CACHE_MB`). */
const SQLITE_CACHE_MB = process.env.TCA_SQLITE_CACHE_MB;
const PROFILES = Math.ceil(EVENTS * 0.8);
const MAPPING = EMAIL_PHONE_MAPPING;
const SEGMENTS = ['seg-loyal', 'seg-churn'];

/** Starts `tca emulator` on a free loopback port and returns its URL and an admin API reader. */
async function startEmulatorProcess(): Promise<{
  url: string;
  admin(path: string): Promise<unknown>;
  /** CPU seconds the emulator process has used so far (user + system, from /proc). */
  cpuSeconds(): number;
  stop(): void;
}> {
  const root = join(import.meta.dirname, '..');
  const child = spawn(process.execPath, [join(root, 'bin', 'tca.js'), 'emulator', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(out);
      if (found) resolve(found[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code}): ${out}`)));
  });
  return {
    url,
    async admin(path) {
      const response = await fetch(`${url}/_emulator${path}`);
      if (!response.ok) throw new Error(`emulator admin ${path}: ${response.status}`);
      return ((await response.json()) as { data: unknown }).data;
    },
    cpuSeconds() {
      // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name) are utime and stime, in clock ticks.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/** This process's I/O so far (bytes read and written through system calls, all threads), from /proc; null elsewhere. */
function processIo(): { read: number; written: number } | null {
  try {
    const fields = new Map(
      readFileSync('/proc/self/io', 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(': ') as [string, string]),
    );
    return { read: Number(fields.get('rchar')), written: Number(fields.get('wchar')) };
  } catch {
    return null;
  }
}

/** Profiles that are members at the end of the file (each profile is in one segment). */
const finalMembers = new Set<number>();
const dir = mkdtempSync(join(tmpdir(), 'tca-engine-bench-'));
const FORMAT = process.env.ENGINE_BENCH_FORMAT === 'csv' ? 'csv' : 'ndjson';
const file = join(dir, `profiles.${FORMAT}`);

async function generate(): Promise<void> {
  const out = createWriteStream(file);
  if (FORMAT === 'csv')
    out.write(`profile_key,email,phone_e164,${SEGMENTS.map((s) => `segment:${s}`).join(',')}\n`);
  let state = 12345;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 4294967296;
  for (let i = 0; i < EVENTS; i += 1) {
    const p = i < PROFILES ? i : Math.floor(random() * PROFILES);
    const segment = SEGMENTS[p % SEGMENTS.length]!;
    const status = i >= PROFILES && random() < 0.5 ? 'exited' : 'realized';
    if (status === 'exited') finalMembers.delete(p);
    else finalMembers.add(p);
    let line: string;
    if (FORMAT === 'csv') {
      const phone = p % 3 === 0 ? `+1415${String(p).padStart(7, '0')}` : '';
      const cells = SEGMENTS.map((s) => (s === segment ? (status === 'exited' ? 'exited' : '1') : ''));
      line = [`crm-${p}`, `Person.${p}@Example.com`, phone, ...cells].join(',');
    } else {
      const identityMap: Record<string, Array<{ id: string }>> = {
        ECID: [{ id: `ecid-${p}` }],
        ...(WITH_CRM_ID ? { CRMID: [{ id: `crm-${p}` }] } : {}),
        Email: [{ id: `Person.${p}@Example.com` }],
      };
      if (p % 3 === 0) identityMap['Phone_E.164'] = [{ id: `+1415${String(p).padStart(7, '0')}` }];
      line = JSON.stringify({
        segmentMembership: { ups: { [segment]: { status, lastQualificationTime: '2026-06-01T00:00:00Z' } } },
        identityMap,
        attributes: {},
      });
    }
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/**
 * The floor, measured in a process of its own: after an end-to-end run this process holds a large heap and the
 * machine is still writing the run's store back, and a floor measured here then came out 12–15% slower than the one
 * before the run (80,000–85,000 against 94,000 events/s), which flattered the ratio.
 */
async function floor(): Promise<number> {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '..', 'bin', 'run-ts.js'), join(import.meta.dirname, 'engine.bench.ts')],
    { env: { ...process.env, ENGINE_BENCH_FLOOR_OF: file }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (out += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  const rate = Number(/^floor (\S+)$/m.exec(out)?.[1]);
  if (code !== 0 || !Number.isFinite(rate)) throw new Error(`the floor's process failed (${code}): ${out}`);
  return rate;
}

/** The floor of `path` in this process: read, parse and validate each profile, map and hash its identifiers. */
async function floorHere(path: string): Promise<number> {
  const start = performance.now();
  let n = 0;
  if (FORMAT === 'csv') return (await csvParseHashFloor(path, MAPPING)).rowsPerSecond;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    const parsed = parseProfileExport(JSON.parse(line));
    if (!parsed.ok) continue;
    for (const row of MAPPING) applyMapping([row], parsed.profile);
    n += 1;
  }
  return n / ((performance.now() - start) / 1000);
}

async function endToEnd(storeDir: string): Promise<{
  /** CPU seconds (all threads) of this process and of the emulator's, per phase. */
  cpu: { import: number; delivery: number; emulatorImport: number; emulatorDelivery: number };
  /** Seconds the main thread (the store's only writer) was busy, per phase: its event loop's active time. */
  mainBusy: { import: number; delivery: number };
  /** Megabytes this process read and wrote per phase (the file, the store, its WAL and checkpoints), when known. */
  io: { import: { read: number; written: number }; delivery: { read: number; written: number } } | null;
  eventsPerSecond: number;
  importSeconds: number;
  flushSeconds: number;
  requests: number;
  members: number;
}> {
  const database = DATABASE_URL ? await createPostgresDatabase('tca_bench', DATABASE_URL) : null;
  const store = await openStore({
    dataDir: storeDir,
    url: database?.url,
    sqlite: {
      synchronous: 'normal',
      ...(SQLITE_CACHE_MB === undefined ? {} : { cacheMb: Number(SQLITE_CACHE_MB) }),
    },
  });
  // X runs elsewhere: the emulator is a `tca emulator` process of its own, reached over loopback HTTP.
  const emulator = await startEmulatorProcess();
  const client = new XAdsClient({
    baseUrl: emulator.url,
    credentials: BENCH_CREDENTIALS,
    budgets: new RateBudgets(),
    sleep: async () => {},
  });
  const audiences = await benchDataflow(store, MAPPING, SEGMENTS);
  if (KEY_ALIASES) await enableKeyAliases(store, 'prod');
  const engine = createEngine({
    store,
    clientFor: () => client,
    ...(process.env.ENGINE_BENCH_THREADS
      ? { tuning: { importThreads: Number(process.env.ENGINE_BENCH_THREADS) } }
      : {}),
  });
  // The dataflow is activated before profiles arrive, as in the service (its worker syncs new dataflows at once).
  await engine.sync();
  const io0 = processIo();
  const cpu0 = process.cpuUsage();
  const emulatorCpu0 = emulator.cpuSeconds();
  const loop0 = performance.eventLoopUtilization();
  const start = performance.now();
  const report = await engine.importFile(file, {
    sandboxId: 'prod',
    ...(process.env.ENGINE_BENCH_BATCH ? { batchSize: Number(process.env.ENGINE_BENCH_BATCH) } : {}),
  });
  const imported = performance.now();
  const cpu1 = process.cpuUsage(cpu0);
  const emulatorCpu1 = emulator.cpuSeconds();
  const loop1 = performance.eventLoopUtilization();
  const io1 = processIo();
  await engine.flush();
  const io2 = processIo();
  const done = performance.now();
  const loop2 = performance.eventLoopUtilization();
  const cpu2 = process.cpuUsage(cpu0);
  const seconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
  const cpu = {
    import: seconds(cpu1),
    delivery: seconds(cpu2) - seconds(cpu1),
    emulatorImport: emulatorCpu1 - emulatorCpu0,
    emulatorDelivery: emulator.cpuSeconds() - emulatorCpu1,
  };
  let members = 0;
  for (const audience of audiences) {
    const row = await store.db
      .selectFrom('dataflow_audiences')
      .select('x_audience_id')
      .where('id', '=', audience.id)
      .executeTakeFirst();
    const stats = (await emulator.admin(
      `/accounts/${BENCH_ACCOUNT}/custom_audiences/${row!.x_audience_id!}/stats`,
    )) as { members: number };
    members += stats.members;
  }
  const log = (await emulator.admin('/requests?path=/users')) as Array<{ path: string }>;
  const requests = log.filter((r) => r.path.endsWith('/users')).length;
  await store.close();
  await database?.drop();
  emulator.stop();
  return {
    cpu,
    mainBusy: {
      import: performance.eventLoopUtilization(loop1, loop0).active / 1000,
      delivery: performance.eventLoopUtilization(loop2, loop1).active / 1000,
    },
    io:
      io0 && io1 && io2
        ? {
            import: { read: (io1.read - io0.read) / 1e6, written: (io1.written - io0.written) / 1e6 },
            delivery: { read: (io2.read - io1.read) / 1e6, written: (io2.written - io1.written) / 1e6 },
          }
        : null,
    eventsPerSecond: report.rowsRead / ((done - start) / 1000),
    importSeconds: (imported - start) / 1000,
    flushSeconds: (done - imported) / 1000,
    requests,
    members,
  };
}

if (process.env.ENGINE_BENCH_FLOOR_OF) {
  console.log(`floor ${await floorHere(process.env.ENGINE_BENCH_FLOOR_OF)}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

try {
  const t = performance.now();
  await generate();
  console.log(
    `generated ${EVENTS.toLocaleString('en')} ${FORMAT} events (${PROFILES.toLocaleString('en')} profiles) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  let floorBefore = await floor();
  console.log(`parse+hash floor:          ${Math.round(floorBefore).toLocaleString('en')} events/s`);
  const ratios: number[] = [];
  for (let run = 1; run <= RUNS; run += 1) {
    if (RUNS > 1) console.log(`\nrun ${run} of ${RUNS}`);
    const storeDir = join(dir, `store-${run}`);
    mkdirSync(storeDir);
    const e2e = await endToEnd(storeDir);
    rmSync(storeDir, { recursive: true, force: true });
    console.log(
      `import + delivery (${DATABASE_URL ? 'PostgreSQL' : 'SQLite'}): ${Math.round(e2e.eventsPerSecond).toLocaleString('en')} events/s (import ${e2e.importSeconds.toFixed(1)} s, flush ${e2e.flushSeconds.toFixed(1)} s, ${e2e.requests} users requests, ${e2e.members.toLocaleString('en')} members at X)`,
    );
    console.log(
      `CPU seconds (2 cores = 2 per second):  import ${e2e.cpu.import.toFixed(1)} here + ${e2e.cpu.emulatorImport.toFixed(1)} emulator, delivery ${e2e.cpu.delivery.toFixed(1)} here + ${e2e.cpu.emulatorDelivery.toFixed(1)} emulator`,
    );
    if (e2e.io)
      console.log(
        `I/O (MB read / written):    import ${e2e.io.import.read.toFixed(0)} / ${e2e.io.import.written.toFixed(0)}, delivery ${e2e.io.delivery.read.toFixed(0)} / ${e2e.io.delivery.written.toFixed(0)}`,
      );
    const exact = e2e.members === finalMembers.size;
    console.log(
      `members at X = file's final members: ${exact ? 'yes' : `NO (${e2e.members} at X, ${finalMembers.size} expected)`}`,
    );
    // The floor again after the end-to-end run: on a shared machine it drifts, and the mean of the two cancels the
    // drift. It is the next run's floor before.
    const floorAfter = await floor();
    const floorRate = (floorBefore + floorAfter) / 2;
    floorBefore = floorAfter;
    console.log(
      `parse+hash floor, after:   ${Math.round(floorAfter).toLocaleString('en')} events/s (mean ${Math.round(floorRate).toLocaleString('en')})`,
    );
    const ratio = floorRate / e2e.eventsPerSecond;
    ratios.push(ratio);
    console.log(
      `floor / end-to-end:        ${ratio.toFixed(2)}x (target <= 2.5x) ${ratio <= 2.5 ? 'OK' : 'ABOVE TARGET'}`,
    );
    // What the CPU time spent allows at best: every core busy from the first event to the last, both phases overlapped.
    const cores = availableParallelism();
    const cpuSeconds = e2e.cpu.import + e2e.cpu.delivery + e2e.cpu.emulatorImport + e2e.cpu.emulatorDelivery;
    const bestSeconds = cpuSeconds / cores;
    const floorSeconds = EVENTS / floorRate;
    console.log(
      `CPU-bound best case:       ${bestSeconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} CPU seconds on ${cores} cores) = ${(bestSeconds / floorSeconds).toFixed(2)}x the floor`,
    );
    // The store's single writer: whatever else runs elsewhere, the run takes at least as long as its main thread's work.
    const busy = e2e.mainBusy.import + e2e.mainBusy.delivery;
    console.log(
      `main thread (the writer):  busy ${e2e.mainBusy.import.toFixed(1)} s of the import's ${e2e.importSeconds.toFixed(1)} s, ${e2e.mainBusy.delivery.toFixed(1)} s of delivery's ${e2e.flushSeconds.toFixed(1)} s = ${(busy / floorSeconds).toFixed(2)}x the floor on its own`,
    );
  }
  if (RUNS > 1) {
    const sorted = [...ratios].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    console.log(
      `\nfloor / end-to-end over ${RUNS} runs: median ${median.toFixed(2)}x (${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)}x; target <= 2.5x) ${median <= 2.5 ? 'OK' : 'ABOVE TARGET'}`,
    );
  }
  console.log(`peak RSS:                  ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
