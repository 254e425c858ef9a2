import { sql } from 'kysely';
import type { Capabilities } from '../store/capabilities.ts';
import { chunkRows, chunksOf, differs, same, unnestRows, type Db } from './sql-helpers.ts';

/** One desired-state write: the member's desired user for an audience (canonical JSON or null). */
export interface DesiredWrite {
  audienceId: string;
  member: string;
  desired: string | null;
}

/**
 * Writes desired states. A row whose desired state is unchanged is left alone (re-sending a batch changes nothing);
 * otherwise `pending` says whether X differs from the new desired state, so an add followed by a remove before
 * delivery leaves nothing pending (net-change compaction). A desired state X refused before (dead-lettered) is not
 * retried. `pending_since` keeps the age of the oldest undelivered change.
 */
export async function writeDesired(
  db: Db,
  capabilities: Capabilities,
  writes: readonly DesiredWrite[],
  now: number,
): Promise<void> {
  const t = sql.table('engine_ledger');
  const delivered = sql.ref('engine_ledger.delivered');
  const incoming = sql.ref('excluded.desired');
  const settled = sql`((${same(capabilities, incoming, delivered)} and engine_ledger.resend = 0 and engine_ledger.sent is null) or (engine_ledger.dead is not null and ${same(
    capabilities,
    incoming,
    sql.ref('engine_ledger.dead'),
  )}))`;
  const postgres = capabilities.dialect === 'postgres';
  // In one order, the delivery commit's too (see `byLedgerKey`): two processes' transactions that meet the same rows
  // lock them in the same order, so they wait for each other instead of deadlocking.
  const ordered = postgres ? [...writes].sort(byLedgerKey) : writes;
  for (const chunk of postgres ? chunksOf(ordered, 10_000) : chunkRows(ordered, 6, capabilities)) {
    const rows = postgres
      ? sql`select v.audience_id, v.member, v.desired, case when v.desired is null then 0 else 1 end,
          case when v.desired is null then null else cast(${now} as bigint) end, cast(${now} as bigint)
        from ${unnestRows('v', [
          ['audience_id', 'text', chunk.map((w) => w.audienceId)],
          ['member', 'text', chunk.map((w) => w.member)],
          ['desired', 'text', chunk.map((w) => w.desired)],
        ])}`
      : sql`values ${sql.join(
          chunk.map(
            (w) =>
              sql`(${w.audienceId}, ${w.member}, ${w.desired}, ${w.desired === null ? 0 : 1}, ${w.desired === null ? null : now}, ${now})`,
          ),
        )}`;
    await sql`insert into ${t} (audience_id, member, desired, pending, pending_since, updated_at) ${rows}
      on conflict (audience_id, member) do update set
        desired = excluded.desired,
        pending = case when ${settled} then 0 else 1 end,
        pending_since = case when ${settled} then null when engine_ledger.pending = 1 then engine_ledger.pending_since else excluded.updated_at end,
        updated_at = excluded.updated_at
      where ${differs(capabilities, sql.ref('engine_ledger.desired'), incoming)}`.execute(db);
  }
}

/** Ledger rows in the order PostgreSQL transactions write them: by audience, then member (`byMember`). */
export function byLedgerKey(
  a: { audienceId: string; member: string },
  b: { audienceId: string; member: string },
): number {
  if (a.audienceId !== b.audienceId) return a.audienceId < b.audienceId ? -1 : 1;
  return byMember(a, b);
}

/** One audience's ledger rows in that order: by member, in code-unit order. */
export function byMember(a: { member: string }, b: { member: string }): number {
  return a.member < b.member ? -1 : a.member > b.member ? 1 : 0;
}
