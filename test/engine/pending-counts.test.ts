import { CompiledQuery, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { pendingCounts, pendingQueries, pendingTotals } from '../../src/engine/pending-counts.ts';
import type { Db } from '../../src/engine/sql-helpers.ts';
import { BACKENDS, type TestStore } from '../store/backends.ts';

// The changes waiting for delivery, as the audiences list, the alerts and the metrics read them: counted exactly, and
// on SQLite from the partial indexes alone (walking the audience's members instead grows with the audience).

const USER = JSON.stringify({ email: ['a'.repeat(64)] });

for (const backend of BACKENDS) {
  describe(`pending counts (${backend.name})`, () => {
    let t: TestStore | undefined;
    afterEach(async () => {
      await t?.cleanup();
      t = undefined;
    });

    it('counts the pending adds, removes and the oldest of each audience, and of all of them', async () => {
      t = await backend.open();
      const db = t.store.db as unknown as Db;
      // Per audience: members delivered and settled, pending adds, pending removes (desired null).
      const rows = [
        ...Array.from({ length: 50 }, (_, i) => ['aud_a', `settled${i}`, USER, 0, null]),
        ...Array.from({ length: 7 }, (_, i) => ['aud_a', `add${i}`, USER, 1, 5_000 + i]),
        ...Array.from({ length: 3 }, (_, i) => ['aud_a', `remove${i}`, null, 1, 4_000 + i]),
        ...Array.from({ length: 20 }, (_, i) => ['aud_b', `settled${i}`, USER, 0, null]),
        ['aud_b', 'remove0', null, 1, 9_000],
        ['aud_c', 'settled0', null, 0, null],
      ] as const;
      for (const [audience, member, desired, pending, since] of rows)
        await sql`insert into engine_ledger (audience_id, member, desired, delivered, pending, pending_since, updated_at)
          values (${audience}, ${member}, ${desired}, ${USER}, ${pending}, ${since}, 1)`.execute(db);

      expect(await pendingCounts(db, ['aud_a', 'aud_b', 'aud_c', 'aud_none'])).toEqual(
        new Map([
          ['aud_a', { adds: 7, removes: 3, oldestAt: 4_000 }],
          ['aud_b', { adds: 0, removes: 1, oldestAt: 9_000 }],
        ]),
      );
      expect(await pendingTotals(db)).toEqual({ adds: 7, removes: 4 });

      if (backend.name === 'sqlite') {
        const plans: string[] = [];
        for (const query of Object.values(pendingQueries(db, ['aud_a', 'aud_b']))) {
          const { sql: text, parameters } = query.compile();
          const plan = await db.executeQuery<{ detail: string }>(
            CompiledQuery.raw(`explain query plan ${text}`, [...parameters]),
          );
          plans.push(plan.rows.map((r) => r.detail).join('; '));
        }
        expect(plans).toEqual([
          expect.stringMatching(/USING COVERING INDEX engine_ledger_pending \(/),
          expect.stringMatching(/USING COVERING INDEX engine_ledger_pending_removes \(/),
        ]);
        expect(plans.join('; ')).not.toContain('PRIMARY KEY');
      }
    });
  });
}
