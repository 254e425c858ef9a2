import { sql } from 'kysely';
import { failedRequirement } from '../audience/consent.ts';
import {
  audienceActive,
  type AudienceContext,
  loadSandboxContext,
  REMOVED_AUDIENCE_STATES,
  TRACKED_DATAFLOW_STATUSES,
} from './dataflow-context.ts';
import { writeDesired, type DesiredWrite } from './ledger-writes.ts';
import { userFor, type RowValues } from './profile-state.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';

const BACKFILL_PAGE = 2000;
/** Ledger rows checked per transaction for members who left the segment (their ids go in one `in` list). */
const LEFT_PAGE = 500;

/**
 * Reconciles the engine's audience state with the dataflows: new activated audiences get a row, audiences taken off a
 * dataflow (or whose dataflow was deleted) are marked for removal, and audiences whose schedule has started are
 * backfilled with every current member already known. Safe to run at any time, from any worker.
 */
export async function syncAudiences(rt: EngineRuntime, scope: { sandboxId?: string } = {}): Promise<void> {
  const db = rt.store.db as unknown as Db;
  let query = db
    .selectFrom('dataflow_audiences as a')
    .innerJoin('dataflows as d', 'd.id', 'a.dataflow_id')
    .select([
      'a.id',
      'a.sandbox_id',
      'a.dataflow_id',
      'a.segment_id',
      'a.state',
      'a.start_date',
      'a.end_date',
      'd.destination_id',
      'd.status',
    ]);
  if (scope.sandboxId !== undefined) query = query.where('a.sandbox_id', '=', scope.sandboxId);
  const live = await query.execute();
  let engineQuery = db.selectFrom('engine_audiences').selectAll().where('lifecycle', '<>', 'removed');
  if (scope.sandboxId !== undefined) engineQuery = engineQuery.where('sandbox_id', '=', scope.sandboxId);
  const known = new Map((await engineQuery.execute()).map((row) => [row.id, row]));
  const now = rt.now();
  const liveIds = new Set<string>();

  for (const a of live) {
    const gone = (REMOVED_AUDIENCE_STATES as readonly string[]).includes(a.state) || a.status === 'deleted';
    if (!gone) liveIds.add(a.id);
    if (!gone && !known.has(a.id)) {
      await db
        .insertInto('engine_audiences')
        .values({
          id: a.id,
          sandbox_id: a.sandbox_id,
          dataflow_id: a.dataflow_id,
          destination_id: a.destination_id,
          segment_id: a.segment_id,
          x_audience_id: null,
          x_audience_name: null,
          name_base: null,
          created_by_engine: 0,
          creating_at: null,
          lifecycle: 'active',
          backfilled_at: null,
          failures: 0,
          next_attempt_at: null,
          last_error: null,
          last_add_push_at: null,
          last_remove_push_at: null,
          flush_requested: 0,
          lease_owner: null,
          lease_until: null,
          updated_at: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
  }
  for (const row of known.values()) {
    if (row.lifecycle === 'active' && !liveIds.has(row.id)) {
      await db
        .updateTable('engine_audiences')
        .set({ lifecycle: 'removing', flush_requested: 1, updated_at: now })
        .where('id', '=', row.id)
        .execute();
    }
  }

  // Backfill audiences whose schedule has begun.
  const waiting = await db
    .selectFrom('engine_audiences')
    .select(['id', 'sandbox_id', 'dataflow_id', 'segment_id', 'paused_at'])
    .where('lifecycle', '=', 'active')
    .where('backfilled_at', 'is', null)
    .execute();
  const bySandbox = new Map<string, typeof waiting>();
  for (const w of waiting) {
    if (scope.sandboxId !== undefined && w.sandbox_id !== scope.sandboxId) continue;
    const list = bySandbox.get(w.sandbox_id) ?? [];
    list.push(w);
    bySandbox.set(w.sandbox_id, list);
  }
  for (const [sandboxId, list] of bySandbox) {
    const context = await loadSandboxContext(db, sandboxId, rt.tuning.profileKeyNamespaces);
    for (const w of list) {
      const dataflow = context.dataflows.find((d) => d.id === w.dataflow_id);
      const audience = dataflow?.audiences.find((a) => a.id === w.id);
      if (
        !dataflow ||
        !audience ||
        !(TRACKED_DATAFLOW_STATUSES as readonly string[]).includes(dataflow.status)
      )
        continue;
      if (!audienceActive(audience, now)) continue;
      await backfill(rt, sandboxId, dataflow, audience, w.paused_at !== null);
    }
  }

  await removeEndedMembers(rt, scope, now);
  await markOutOfSchedule(rt, scope, now);
}

/** The ids of the active engine audiences (`e`) with their activation (`a`), of the scope's sandbox. */
function activeAudiences(db: Db, scope: { sandboxId?: string }) {
  const query = db
    .selectFrom('dataflow_audiences as a')
    .innerJoin('engine_audiences as e', 'e.id', 'a.id')
    .select('a.id')
    .where('e.lifecycle', '=', 'active');
  return scope.sandboxId === undefined ? query : query.where('a.sandbox_id', '=', scope.sandboxId);
}

/**
 * Audiences outside their schedule (an end date passed, or a start moved later) export nothing: ingest leaves their
 * ledger as it was. Each is marked (`paused_at`) to be backfilled when it is active again (an end date moved
 * later, a start reached), so it then gets every current member and loses those who left the segment meanwhile.
 */
async function markOutOfSchedule(
  rt: EngineRuntime,
  scope: { sandboxId?: string },
  now: number,
): Promise<void> {
  const db = rt.store.db as unknown as Db;
  const query = activeAudiences(db, scope)
    .where((eb) =>
      eb.or([
        eb('a.start_date', '>', now),
        eb.and([eb('a.end_date', 'is not', null), eb('a.end_date', '<=', now)]),
      ]),
    )
    .where('e.backfilled_at', 'is not', null)
    .where('e.paused_at', 'is', null);
  const ids = (await query.execute()).map((r) => r.id);
  if (ids.length === 0) return;
  await db
    .updateTable('engine_audiences')
    .set({ paused_at: now, backfilled_at: null, updated_at: now })
    .where('id', 'in', ids)
    .execute();
}

/**
 * Members the ledger still wants in the audience whose profile is no longer in the segment (or was erased): they left
 * while the audience was out of schedule, when ingest did not write for it. Each is set to leave.
 */
async function dropMembersWhoLeft(rt: EngineRuntime, audienceId: string, segmentId: string): Promise<void> {
  let after = '';
  for (;;) {
    const done = await rt.store.transaction(async (tx) => {
      const db = tx.db as unknown as Db;
      const rows = await db
        .selectFrom('engine_ledger')
        .select('member')
        .where('audience_id', '=', audienceId)
        .where('desired', 'is not', null)
        .where('member', '>', after)
        .orderBy('member')
        .limit(LEFT_PAGE)
        .execute();
      const last = rows[rows.length - 1];
      if (!last) return true;
      after = last.member;
      let query = db
        .selectFrom('engine_profiles')
        .select(['id', 'segments'])
        .where(
          'id',
          'in',
          rows.map((r) => Number(r.member)),
        );
      // As in the backfill: on PostgreSQL an ingest could commit between this read and the write below.
      if (rt.store.capabilities.dialect === 'postgres') query = query.forUpdate();
      const profiles = await query.execute();
      const stay = new Set(
        profiles
          .filter((p) => (JSON.parse(p.segments) as string[]).includes(segmentId))
          .map((p) => String(p.id)),
      );
      const writes = rows
        .filter((r) => !stay.has(r.member))
        .map((r) => ({ audienceId, member: r.member, desired: null }));
      await writeDesired(db, rt.store.capabilities, writes, rt.now());
      return rows.length < LEFT_PAGE;
    });
    if (done) return;
  }
}

/**
 * Audiences whose end date has passed and that asked for it: every member leaves (desired = nothing), so delivery
 * removes them from the X audience, which itself stays. Done once per end; moving the end date later makes the
 * audience active again, and its backfill restores the members.
 */
async function removeEndedMembers(
  rt: EngineRuntime,
  scope: { sandboxId?: string },
  now: number,
): Promise<void> {
  const db = rt.store.db as unknown as Db;
  const query = activeAudiences(db, scope)
    .where('a.remove_members_at_end', '=', 1)
    .where('a.end_date', 'is not', null)
    .where('a.end_date', '<=', now)
    .where('e.end_cleared_at', 'is', null);
  for (const { id } of await query.execute()) {
    let removed = 0;
    for (;;) {
      const count = await rt.store.transaction(async (tx) => {
        const members = await (tx.db as unknown as Db)
          .selectFrom('engine_ledger')
          .select('member')
          .where('audience_id', '=', id)
          .where('desired', 'is not', null)
          .limit(BACKFILL_PAGE)
          .execute();
        await writeDesired(
          tx.db as unknown as Db,
          rt.store.capabilities,
          members.map((m) => ({ audienceId: id, member: m.member, desired: null })),
          rt.now(),
        );
        return members.length;
      });
      removed += count;
      if (count < BACKFILL_PAGE) break;
    }
    await db
      .updateTable('engine_audiences')
      .set({ end_cleared_at: now, backfilled_at: null, updated_at: now })
      .where('id', '=', id)
      .execute();
    rt.logger.info({ audienceId: id, members: removed }, 'audience ended: its members are being removed');
  }
}

/** Writes the desired state of every known member of the segment (historical qualifications, as AEP backfills). */
async function backfill(
  rt: EngineRuntime,
  sandboxId: string,
  dataflow: Parameters<typeof userFor>[0],
  audience: Pick<AudienceContext, 'id' | 'segmentId' | 'extraConsent'>,
  /** The audience was out of schedule: members may have left the segment unnoticed. */
  resumed = false,
): Promise<void> {
  const { id: audienceId, segmentId } = audience;
  if (resumed) await dropMembersWhoLeft(rt, audienceId, segmentId);
  const needle = `%${JSON.stringify(segmentId).replace(/[%_]/g, (c) => `\\${c}`)}%`;
  let after = 0;
  let total = 0;
  for (;;) {
    const count = await rt.store.transaction(async (tx) => {
      const db = tx.db as unknown as Db;
      let query = db
        .selectFrom('engine_profiles')
        .select(['id', 'identities', 'segments'])
        .where('id', '>', after)
        .where('sandbox_id', '=', sandboxId)
        .where(sql<boolean>`segments like ${needle} escape '\\'`)
        .orderBy('id')
        .limit(BACKFILL_PAGE);
      // On PostgreSQL an ingest could commit between this read and the write below; lock the rows read.
      if (rt.store.capabilities.dialect === 'postgres') query = query.forUpdate();
      const rows = await query.execute();
      const writes: DesiredWrite[] = [];
      for (const row of rows) {
        const segments = JSON.parse(row.segments) as string[];
        if (!segments.includes(segmentId)) continue;
        // Null too: an audience evaluated again (its consent policies changed) loses members who no longer qualify.
        const values = JSON.parse(row.identities) as RowValues;
        const desired =
          audience.extraConsent.length > 0 && failedRequirement(audience.extraConsent, values) !== null
            ? null
            : userFor(dataflow, values);
        writes.push({ audienceId, member: String(row.id), desired });
      }
      await writeDesired(db, rt.store.capabilities, writes, rt.now());
      const last = rows[rows.length - 1];
      if (last) after = last.id;
      total += writes.filter((w) => w.desired !== null).length;
      return { read: rows.length, written: writes.length };
    });
    // A new audience's members: the deliveries after this are planned on statistics that know of them.
    await rt.store.statistics.wrote({ engine_ledger: count.written });
    if (count.read < BACKFILL_PAGE) break;
  }
  await rt.store.db
    .updateTable('engine_audiences')
    .set({ backfilled_at: rt.now(), end_cleared_at: null, paused_at: null, updated_at: rt.now() })
    .where('id', '=', audienceId)
    .execute();
  rt.logger.info({ audienceId, members: total }, 'audience backfilled');
}
