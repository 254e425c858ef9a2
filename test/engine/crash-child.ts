// A delivery process for the crash test: ingests the batches from FROM on, acknowledging each on stdout once
// `ingest` resolved, flushes as it goes and drains at the end. CRASH_AFTER_ACCEPT=n kills the process with SIGKILL
// right after X accepted the n-th users request, before the engine can commit it locally.
import { readFileSync } from 'node:fs';
import { createEngine } from '../../src/engine/index.ts';
import { openStore } from '../../src/store/index.ts';
import { RateBudgets, XAdsClient } from '../../src/xads/index.ts';
import type { EngineXClient } from '../../src/engine/index.ts';
import { CREDENTIALS, passThrough } from './harness.ts';

const env = process.env;
const store = await openStore({ dataDir: env.CRASH_DATA_DIR!, url: env.CRASH_DB_URL! });
const real = new XAdsClient({
  baseUrl: env.CRASH_EMULATOR_URL!,
  credentials: CREDENTIALS,
  budgets: new RateBudgets(),
  maxRetries: 2,
  backoff: { baseMs: 10, capMs: 50 },
});
const crashAfter = env.CRASH_AFTER_ACCEPT ? Number(env.CRASH_AFTER_ACCEPT) : 0;
let accepted = 0;
const client: EngineXClient = {
  ...passThrough(real),
  postUsers: async (a, id, request) => {
    const result = await real.postUsers(a, id, request);
    accepted += 1;
    if (accepted === crashAfter) process.kill(process.pid, 'SIGKILL');
    return result;
  },
};
const engine = createEngine({
  store,
  clientFor: () => client,
  workerId: 'crash-child',
  // Small pages and requests: many requests per flush, so that kills land between the requests of a page too.
  tuning: { leaseMs: 10_000, pageSize: 150, requestMaxBytes: 3000 },
});
const batches = JSON.parse(readFileSync(env.CRASH_EVENTS_FILE!, 'utf8')) as unknown[][];
for (let i = Number(env.CRASH_FROM ?? 0); i < batches.length; i += 1) {
  await engine.ingest(batches[i]!, { sandboxId: 'prod', requestId: `b-${i}` });
  process.stdout.write(`ACK ${i}\n`);
  if (i % 3 === 2) await engine.flush();
}
for (let round = 0; round < 200; round += 1) {
  await engine.flush();
  const pending = await store.db
    .selectFrom('engine_ledger')
    .select('member')
    .where('pending', '=', 1)
    .limit(1)
    .executeTakeFirst();
  if (!pending) break;
}
process.stdout.write('DONE\n');
await store.close();
