// Delivery throughput of the engine on its own: members already in the SQLite ledger are delivered to the X
// emulator (in process, so what is measured is the engine's own work), first as additions, then as removals after
// every member exits. The floor is the pure part of a delivery measured in the same run: packing the same
// changes into requests and serializing their bodies, with no store and no X. `DELIVERY_BENCH_MEMBERS` sets the
// size (default 100,000); `DELIVERY_BENCH_LATENCY_MS` makes the emulator take that long to answer each request, as X
// does (default 0).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulator, defaultDemoSeed } from '../src/emulator/index.ts';
import { createEngine } from '../src/engine/index.ts';
import { sha256Hex } from '../src/identity/index.ts';
import { openStore } from '../src/store/index.ts';
import { planUserRequests, RateBudgets, XAdsClient, type UserChange } from '../src/xads/index.ts';
import { BENCH_ACCOUNT, BENCH_CREDENTIALS, benchDataflow } from './fixture.ts';

const MEMBERS = Number(process.env.DELIVERY_BENCH_MEMBERS ?? 100_000);
const LATENCY_MS = Number(process.env.DELIVERY_BENCH_LATENCY_MS ?? 0);

const profile = (i: number, status: 'realized' | 'exited') => ({
  segmentMembership: { ups: { 'seg-bench': { status } } },
  identityMap: { ECID: [{ id: `ecid-${i}` }], Email: [{ id: `person.${i}@example.com` }] },
});

/** Packing and serializing the additions the delivery will send, without store or X. */
function floor(): number {
  const changes: UserChange[] = Array.from({ length: MEMBERS }, (_, i) => ({
    operation: 'Update',
    user: { email: [sha256Hex(`person.${i}@example.com`)] },
  }));
  const start = performance.now();
  const { requests } = planUserRequests(changes);
  let bytes = 0;
  for (const request of requests) bytes += JSON.stringify(request.operations).length;
  if (bytes === 0) throw new Error('nothing packed');
  return MEMBERS / ((performance.now() - start) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'tca-delivery-bench-'));
try {
  const floorRate = floor();
  const store = await openStore({ dataDir: dir });
  const emulator = createEmulator({ seed: defaultDemoSeed() });
  if (LATENCY_MS > 0) emulator.admin.addFaults({ rates: { latency: 1, latencyMs: LATENCY_MS } });
  const client = new XAdsClient({
    baseUrl: 'http://x-emulator.bench',
    credentials: BENCH_CREDENTIALS,
    fetch: (input, init) => emulator.fetch(new Request(input, init)),
    budgets: new RateBudgets(),
    sleep: async () => {},
  });
  const [audience] = await benchDataflow(
    store,
    [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
    ['seg-bench'],
  );
  const engine = createEngine({ store, clientFor: () => client });
  await engine.sync();
  const ingestAll = async (status: 'realized' | 'exited') => {
    for (let from = 0; from < MEMBERS; from += 5000) {
      const batch = Array.from({ length: Math.min(5000, MEMBERS - from) }, (_, k) =>
        profile(from + k, status),
      );
      await engine.ingest(batch, { sandboxId: 'prod' });
    }
  };
  const deliver = async () => {
    const start = performance.now();
    await engine.flush();
    return MEMBERS / ((performance.now() - start) / 1000);
  };
  const membersAtX = async () => {
    const row = await store.db
      .selectFrom('dataflow_audiences')
      .select('x_audience_id')
      .where('id', '=', audience!.id)
      .executeTakeFirstOrThrow();
    return emulator.admin.memberStats(BENCH_ACCOUNT, row.x_audience_id!).members;
  };

  await ingestAll('realized');
  const addRate = await deliver();
  const afterAdds = await membersAtX();
  await ingestAll('exited');
  const removeRate = await deliver();
  const afterRemoves = await membersAtX();
  const requests = emulator.admin.requests().filter((r) => r.path.endsWith('/users')).length;
  await store.close();

  const fmt = (n: number) => Math.round(n).toLocaleString('en');
  console.log(
    `members: ${fmt(MEMBERS)}, ${requests} users requests${LATENCY_MS > 0 ? `, each answered after ${LATENCY_MS} ms` : ''}`,
  );
  console.log(`floor (pack + serialize): ${fmt(floorRate)} members/s`);
  console.log(
    `additions:  ${fmt(addRate)} members/s (floor / additions ${(floorRate / addRate).toFixed(1)}x), ${fmt(afterAdds)} members at X`,
  );
  console.log(
    `removals:   ${fmt(removeRate)} members/s (floor / removals ${(floorRate / removeRate).toFixed(1)}x), ${fmt(afterRemoves)} members at X`,
  );
  const exact = afterAdds === MEMBERS && afterRemoves === 0;
  console.log(`X state exact: ${exact ? 'yes' : 'NO'}`);
  if (!exact) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
