import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.ts';
import { POSTGRES_BACKEND } from '../store/backends.ts';
import {
  identifiersAtX,
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  seededRandom,
  setup,
} from './harness.ts';

// Several api processes on one PostgreSQL database take profiles at once, and a load balancer may hand the same
// person's exports to different ones. Each batch must apply whole, as if alone: no deadlock between batches that meet
// the same profiles in another order, and no profile state one batch wrote lost under another's.

const profile = (i: number, email: string, segments: Record<string, 'realized' | 'exited'>) => ({
  identityMap: { ECID: [{ id: `ecid-${i}` }], Email: [{ id: email }] },
  segmentMembership: {
    ups: Object.fromEntries(Object.entries(segments).map(([segment, status]) => [segment, { status }])),
  },
});

/**
 * A store on a fresh PostgreSQL database with audiences of `seg-a` and `seg-b` in one dataflow (Email → email), its
 * engine (`h.engine`), and a second process's engine: its own store (connections) on the same database.
 */
async function twoProcesses() {
  const h = await setup(POSTGRES_BACKEND);
  const a = await activateSegment(h, { mapping: MAPPING, segmentId: 'seg-a', mappingName: 'A' });
  const b = await h.store.audiences.create({
    sandboxId: 'prod',
    dataflowId: a.flow.id,
    segmentId: 'seg-b',
    mappingName: 'B',
    startDate: 0,
  });
  const other = createEngine({
    store: await h.testStore.reopen(),
    clientFor: () => h.client,
    now: h.clock.now,
    random: seededRandom(5),
    workerId: 'other-worker',
  });
  return { h, a, b, other };
}

describe('concurrent ingest on PostgreSQL (two processes, one database)', () => {
  it('applies batches that meet the same profiles in opposite orders, keeping what each wrote', async () => {
    const { h, a, b, other } = await twoProcesses();
    const N = 2000;
    const ids = Array.from({ length: N }, (_, i) => i);
    // Each round, one process says every profile is in seg-a, the other that it is in seg-b, in the opposite order.
    for (let round = 0; round < 4; round += 1) {
      const results = await Promise.allSettled([
        h.engine.ingest(
          ids.map((i) => profile(i, `p${i}@example.com`, { 'seg-a': 'realized' })),
          { sandboxId: 'prod' },
        ),
        other.ingest(
          [...ids].reverse().map((i) => profile(i, `p${i}@example.com`, { 'seg-b': 'realized' })),
          { sandboxId: 'prod' },
        ),
      ]);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    }
    // Every profile is in both segments: a new email, in an export that states one of them, replaces the old one in
    // both audiences.
    await h.engine.ingest(
      ids.map((i) => profile(i, `new${i}@example.com`, { 'seg-a': 'realized' })),
      { sandboxId: 'prod' },
    );
    await h.engine.flush();
    const expected = new Set(ids.map((i) => `email:${emailHash(`new${i}@example.com`)}`));
    expect(await identifiersAtX(h, a.audience.id)).toEqual(expected);
    expect(await identifiersAtX(h, b.id)).toEqual(expected);
  });

  it('lets a batch that meets profiles another batch is writing plan from what that one wrote', async () => {
    const { h, a, b, other } = await twoProcesses();
    const ids = Array.from({ length: 50 }, (_, i) => i);
    // A third connection holds the run counters, which a batch writes last: the first batch stops there, its
    // profiles written but not committed, while the second one starts.
    const holder = new pg.Client({ connectionString: h.testStore.url });
    await holder.connect();
    try {
      const waiting = async () =>
        Number(
          (
            await holder.query<{ n: string }>(
              "select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
            )
          ).rows[0]!.n,
        );
      const until = async (n: number) => {
        for (;;) {
          if ((await waiting()) >= n) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await holder.query('begin');
      await holder.query('lock table engine_run_counters in exclusive mode');
      const first = h.engine.ingest(
        ids.map((i) => profile(i, `p${i}@example.com`, { 'seg-a': 'realized' })),
        { sandboxId: 'prod' },
      );
      await until(1);
      const second = other.ingest(
        ids.map((i) => profile(i, `p${i}@example.com`, { 'seg-b': 'realized' })),
        { sandboxId: 'prod' },
      );
      await until(2);
      await holder.query('commit');
      await Promise.all([first, second]);
    } finally {
      await holder.end();
    }
    // Both segments hold every profile: a new email in an export that states the second batch's segment reaches the
    // first one's audience too.
    await h.engine.ingest(
      ids.map((i) => profile(i, `new${i}@example.com`, { 'seg-b': 'realized' })),
      { sandboxId: 'prod' },
    );
    await h.engine.flush();
    const expected = new Set(ids.map((i) => `email:${emailHash(`new${i}@example.com`)}`));
    expect(await identifiersAtX(h, a.audience.id)).toEqual(expected);
    expect(await identifiersAtX(h, b.id)).toEqual(expected);
  });
});
