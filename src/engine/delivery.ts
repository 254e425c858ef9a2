import { sql } from 'kysely';
import { isXAdsError, type XAdsError } from '../xads/errors.ts';
import { changeIndexesForError, planUserRequests } from '../xads/pack-user-changes.ts';
import type { PackedRequest, UserChange } from '../xads/types.ts';
import type { XUser } from '../identity/types.ts';
import type { Destination } from '../store/index.ts';
import {
  deliveredAfter,
  mayHold,
  planMemberChange,
  sentAfter,
  type LedgerEntry,
  type MemberChange,
} from './ledger-diff.ts';
import {
  ensureXAudience,
  removalDeletesAtX,
  removeAudience,
  xAudienceGone,
  type XAudienceChange,
} from './lifecycle.ts';
import { clearDestinationPause, failDataflow, pauseDataflow } from './pauses.ts';
import { byMember } from './ledger-writes.ts';
import { RunCounters } from './run-counters.ts';
import type { EngineRuntime } from './runtime.ts';
import { cadenceAllows, defaultMembershipExpiry, nextAttemptAt, type CadenceState } from './schedule.ts';
import { chunkRows, chunksOf, same, typed, unnestRows, type Db } from './sql-helpers.ts';
import { sqliteStatements, type SqliteStatements } from './sqlite-statements.ts';
import type { EngineXClient } from './x-port.ts';
import { identifierCount, identifierPrefixes, mergeUsers, parseUser, serializeUser } from './xuser.ts';

/** Members per statement of a PostgreSQL commit (see `commit`). */
const UPDATE_CHUNK = 5000;

/**
 * This worker's lease on the audience was taken over (it stalled past the lease, and another worker claimed the
 * audience): it must neither send nor commit anything more for it. What X accepted and was not committed is re-sent
 * by whoever delivers next (the write-ahead says X may hold it), which membership being a set makes harmless.
 */
export class LeaseLostError extends Error {
  constructor(audienceId: string) {
    super(`The delivery lease on audience ${audienceId} was taken over by another worker`);
    this.name = 'LeaseLostError';
  }
}

/**
 * Renews this worker's lease on the audience from `now`, on `db` (a transaction's, for a renewal that must commit or
 * roll back with its writes); throws `LeaseLostError` when another worker holds it now.
 */
export async function renewLease(
  rt: EngineRuntime,
  audienceId: string,
  db: Db = rt.store.db as unknown as Db,
  now = rt.now(),
): Promise<void> {
  const result = await db
    .updateTable('engine_audiences')
    .set({ lease_until: now + rt.tuning.leaseMs })
    .where('id', '=', audienceId)
    .where('lease_owner', '=', rt.workerId)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 0) throw new LeaseLostError(audienceId);
}

/** `renewLease` inside a SQLite transaction, with its prepared statement. */
function renewLeaseSqlite(st: SqliteStatements, rt: EngineRuntime, audienceId: string, now: number): void {
  if (st.renewLease.run(now + rt.tuning.leaseMs, audienceId, rt.workerId).changes === 0)
    throw new LeaseLostError(audienceId);
}

/** What one delivery pass did for one audience. */
export interface AudienceDeliveryReport {
  audienceId: string;
  dataflowId: string;
  outcome: 'delivered' | 'idle' | 'deferred' | 'retrying' | 'paused' | 'error' | 'removed';
  requests: number;
  /** Identifiers X accepted in Update operations for changed members. */
  added: number;
  /** Identifiers X accepted in Delete operations. */
  removed: number;
  deadLettered: number;
  /** What the pass did to the X audience itself (made, attached or renamed it), when anything. */
  xAudience?: XAudienceChange;
  message?: string;
  nextAttemptAt?: number | null;
  /** X's rate limit holds the audience back (outcome `retrying`): it goes again at `nextAttemptAt`, when it resets. */
  rateLimited?: boolean;
}

interface Item {
  entry: LedgerEntry;
  change: MemberChange;
  accepted: { remove: boolean; add: boolean };
  /** Re-add owed only because another member's Delete wipes the X record they share. */
  dependent: boolean;
}

interface Unit {
  items: Item[];
}

interface AudienceRow {
  id: string;
  sandboxId: string;
  dataflowId: string;
  accountId: string;
  xAudienceId: string;
  ttlDays: number | null;
  cadence: CadenceState | null;
  /** Whether `engine_member_idents` holds the audience's delivered identifiers (see `indexIdentifiers`). */
  identsIndexed: boolean;
}

type Stop = {
  stop: true;
  outcome: AudienceDeliveryReport['outcome'];
  message: string;
  nextAttemptAt?: number | null;
  error: unknown;
  /** A rate limit (429, or the client's spent budget): not a failure of the audience (see `noteFailure`). */
  rateLimited?: boolean;
  /** X confirmed the X audience gone and the audience started over (`resetXAudience`): deliver it again now. */
  startedOver?: boolean;
};

/**
 * One delivery pass for one audience (the caller holds its claim): lifecycle first (create / attach / rename /
 * remove), then every pending ledger entry, page by page, in as few requests as X's limits allow. Entries are marked
 * delivered only in the transaction that follows X's acceptance.
 */
export async function deliverAudience(
  rt: EngineRuntime,
  audienceId: string,
  /** Set on the pass that follows a start-over, which is not followed by another. */
  startedOver = false,
): Promise<AudienceDeliveryReport> {
  const db = rt.store.db as unknown as Db;
  const ea = await db
    .selectFrom('engine_audiences')
    .selectAll()
    .where('id', '=', audienceId)
    .executeTakeFirst();
  const report: AudienceDeliveryReport = {
    audienceId,
    dataflowId: ea?.dataflow_id ?? '',
    outcome: 'idle',
    requests: 0,
    added: 0,
    removed: 0,
    deadLettered: 0,
  };
  if (!ea || ea.lifecycle === 'removed') return { ...report, outcome: 'removed' };
  const df = await db.selectFrom('dataflows').selectAll().where('id', '=', ea.dataflow_id).executeTakeFirst();
  const da = await db
    .selectFrom('dataflow_audiences')
    .selectAll()
    .where('id', '=', audienceId)
    .executeTakeFirst();
  const destinationRow = await rt.store.destinations.get(ea.sandbox_id, ea.destination_id);
  let connection: { destination: Destination; client: EngineXClient } | null = null;
  // A destination without usable credentials (no access token yet) has no client: that is a 401 of ours, which pauses
  // the dataflow with what to fix like X's, instead of failing every pass with nothing recorded.
  let clientError: XAdsError | null = null;
  if (destinationRow) {
    try {
      connection = { destination: destinationRow, client: await rt.clientFor(destinationRow) };
    } catch (error) {
      if (!isXAdsError(error)) throw error;
      clientError = error;
    }
  }

  if (ea.lifecycle === 'removing') {
    try {
      if (clientError && removalDeletesAtX(ea, df?.on_audience_removal)) throw clientError;
      await removeAudience(rt, {
        audienceId,
        client: connection?.client ?? null,
        accountId: connection?.destination.accountId ?? null,
        xAudienceId: ea.x_audience_id,
        createdByEngine: ea.created_by_engine === 1,
        creatingAt: ea.creating_at,
        action: df?.on_audience_removal ?? 'delete',
      });
      return { ...report, outcome: 'removed' };
    } catch (error) {
      const stop = await onError(
        rt,
        {
          audienceId,
          dataflowId: ea.dataflow_id,
          sandboxId: ea.sandbox_id,
          destination: connection?.destination ?? destinationRow ?? null,
        },
        error,
        ea.failures,
      );
      // A removal goes on while its dataflow is paused (or deleted): backed off like a failure, not asked at every tick.
      if (stop.outcome === 'paused') {
        const backOff: Stop = { ...stop, outcome: 'retrying' };
        await noteFailure(rt, audienceId, backOff);
        stop.nextAttemptAt = backOff.nextAttemptAt ?? null;
      }
      return {
        ...report,
        outcome: stop.outcome,
        message: stop.message,
        nextAttemptAt: stop.nextAttemptAt ?? null,
        ...(stop.rateLimited ? { rateLimited: true } : {}),
      };
    }
  }
  if (!df || df.status !== 'active' || !da)
    return { ...report, outcome: 'paused', message: `dataflow is ${df?.status ?? 'gone'}` };
  if (clientError && destinationRow) {
    const stop = await onError(
      rt,
      { audienceId, dataflowId: df.id, sandboxId: ea.sandbox_id, destination: destinationRow },
      clientError,
      ea.failures,
    );
    return {
      ...report,
      outcome: stop.outcome,
      message: stop.message,
      nextAttemptAt: stop.nextAttemptAt ?? null,
    };
  }
  if (!connection)
    return { ...report, outcome: 'error', message: `destination ${ea.destination_id} not found` };
  const { client, destination } = connection;
  const where = { audienceId, dataflowId: df.id, sandboxId: ea.sandbox_id, destination };

  // The X audience is made on first delivery: an audience with nothing to send yet stays local.
  if (ea.x_audience_id === null) {
    const any = await db
      .selectFrom('engine_ledger')
      .select('member')
      .where('audience_id', '=', audienceId)
      .where('pending', '=', 1)
      .limit(1)
      .executeTakeFirst();
    if (!any) return report;
  }
  const ensured = await ensureXAudience(rt, client, destination.accountId, {
    id: audienceId,
    mappingName: da.mapping_name,
    existingXAudienceId: da.existing_x_audience_id,
    xAudienceId: ea.x_audience_id,
    xAudienceName: ea.x_audience_name,
    nameBase: ea.name_base,
    createdByEngine: ea.created_by_engine === 1,
    creatingAt: ea.creating_at,
  });
  if (!ensured.ok) {
    if (ensured.reason === 'invalid_name' || ensured.reason === 'attach_gone') {
      await failDataflow(rt, { dataflowId: df.id, audienceId, message: ensured.message });
      return { ...report, outcome: 'error', message: ensured.message };
    }
    const stop = await onError(
      rt,
      {
        ...where,
        x: {
          client,
          accountId: destination.accountId,
          xAudienceId: ea.x_audience_id ?? da.existing_x_audience_id,
        },
      },
      ensured.error,
      ea.failures,
    );
    const again = await startOverNow(rt, audienceId, stop, startedOver);
    if (again) return afterStartOver(report, again);
    return {
      ...report,
      outcome: stop.outcome,
      message: stop.message,
      nextAttemptAt: stop.nextAttemptAt ?? null,
      ...(stop.rateLimited ? { rateLimited: true } : {}),
    };
  }

  if (ensured.change !== undefined) {
    report.xAudience = ensured.change;
    report.outcome = 'delivered';
  }

  const audience: AudienceRow = {
    id: audienceId,
    sandboxId: ea.sandbox_id,
    dataflowId: df.id,
    accountId: destination.accountId,
    xAudienceId: ensured.xAudienceId,
    ttlDays: da.ttl_days,
    cadence:
      df.cadence_mode === 'x_cadence'
        ? {
            windowMs: df.cadence_window_seconds * 1000,
            lastAdd: ea.last_add_push_at,
            lastRemove: ea.last_remove_push_at,
          }
        : null,
    identsIndexed: ea.idents_indexed === 1,
  };

  // Requests whose outcome was never recorded (a crash between sending and committing): X may hold what they sent.
  await recoverInflight(rt, audienceId);

  // Refresh: X drops a membership at its expires_at (13 months by default); re-send still-desired members before.
  if (audience.ttlDays === null) {
    const now = rt.now();
    await sql`update engine_ledger set resend = 1, pending = 1, pending_since = ${now}
      where audience_id = ${audienceId} and pending = 0 and desired is not null and desired = delivered
        and expires_at is not null and expires_at < ${now + rt.tuning.refreshWindowMs}`.execute(db);
  }

  const pushed = { add: false, remove: false };
  // The last, partly filled request of a full page waits for the next page to fill it up: its items are carried over,
  // and each page is read after the one before (in the pending index's order), so nothing is read twice.
  let carry: Item[] = [];
  let after: PendingKey | null = null;
  for (;;) {
    const limit = pageLimit(rt.tuning.pageSize, carry.length);
    const page = await readPendingPage(db, audienceId, after, limit);
    if (page.length === 0 && carry.length === 0) break;
    const last = page[page.length - 1];
    if (last) after = { since: Number(last.pending_since), member: last.member };
    const settled: string[] = [];
    const items = new Map<string, Item>(carry.map((item) => [item.entry.member, item]));
    carry = [];
    for (const row of page) {
      const entry: LedgerEntry = {
        member: row.member,
        desired: row.desired,
        delivered: row.delivered,
        sent: row.sent,
        resend: row.resend === 1,
      };
      const change = planMemberChange(entry);
      if (change)
        items.set(row.member, { entry, change, accepted: { remove: false, add: false }, dependent: false });
      else settled.push(row.member);
    }
    if (settled.length > 0) await settle(rt, audienceId, settled);

    // Removals look up who else holds their identifiers: the first one builds the index it needs.
    if (!audience.identsIndexed && [...items.values()].some((i) => i.change.remove !== null)) {
      await indexIdentifiers(rt, audienceId);
      audience.identsIndexed = true;
    }
    const units = await groupUnits(db, audienceId, items);
    const sendable = audience.cadence
      ? units.filter((u) => cadenceOk(u, audience.cadence!, rt.now()))
      : units;
    if (sendable.length === 0) {
      if (settled.length === 0) {
        report.outcome = 'deferred';
        break;
      }
      continue;
    }
    // A full page may be followed by more: keep its last, partly filled request for the next page to fill up.
    const hold = page.length === limit ? carry : null;
    const stop = await sendUnits(rt, client, audience, sendable, report, pushed, hold);
    if (stop) {
      const handled = await onError(
        rt,
        { ...where, x: { client, accountId: destination.accountId, xAudienceId: audience.xAudienceId } },
        stop.error,
        ea.failures,
      );
      const again = await startOverNow(rt, audienceId, handled, startedOver);
      if (again) return afterStartOver(report, again);
      return {
        ...report,
        outcome: handled.outcome,
        message: handled.message,
        nextAttemptAt: handled.nextAttemptAt ?? null,
        ...(handled.rateLimited ? { rateLimited: true } : {}),
      };
    }
    if (sendable.length < units.length) {
      report.outcome = 'deferred';
      break;
    }
  }

  const now = rt.now();
  await db
    .updateTable('engine_audiences')
    .set({
      failures: 0,
      next_attempt_at: null,
      last_error: null,
      flush_requested: 0,
      ...(pushed.add ? { last_add_push_at: now } : {}),
      ...(pushed.remove ? { last_remove_push_at: now } : {}),
      updated_at: now,
    })
    .where('id', '=', audienceId)
    .execute();
  if (report.requests > 0) {
    await db
      .updateTable('dataflow_audiences')
      .set({ last_delivery_at: now, updated_at: now })
      .where('id', '=', audienceId)
      .execute();
    if (report.outcome === 'idle') report.outcome = 'delivered';
  }
  // X accepted what this pass sent: a destination an earlier pause marked refused works again.
  if (report.requests > 0 || ensured.change !== undefined) await clearDestinationPause(rt, destination);
  return report;
}

/** Where a page of pending ledger rows ended, in the pending index's order. */
export interface PendingKey {
  since: number;
  member: string;
}

/**
 * Up to `limit` pending ledger rows of the audience after `after`, in the pending index's `(pending_since, member)`
 * order: each page starts where the one before ended, through the index, so no row is read twice.
 */
export function readPendingPage(db: Db, audienceId: string, after: PendingKey | null, limit: number) {
  let query = db
    .selectFrom('engine_ledger')
    .select(['member', 'desired', 'delivered', 'sent', 'resend', 'pending_since'])
    .where('audience_id', '=', audienceId)
    .where('pending', '=', 1);
  if (after !== null)
    query = query.where(sql<boolean>`(pending_since, member) > (${after.since}, ${after.member})`);
  return query.orderBy('pending_since').orderBy('member').limit(limit).execute();
}

/**
 * How many pending rows a delivery round reads when `carried` members wait from the round before: carried members
 * count towards the page, so a round holds about a page in memory, but at least half a page is read, so that a request
 * larger than a page still fills up. The dry-run plan pages the same way.
 */
export function pageLimit(pageSize: number, carried: number): number {
  return Math.max(Math.ceil(pageSize / 2), pageSize - carried);
}

/**
 * Whether X cadence lets a unit go now. A change's kind is the one the pending counts give it, as the schedule, the
 * audiences list and the delayed alert read them (`pendingCounts`): a member who stays is an addition (an identity
 * change too, whose Delete of the old identifiers travels with it), a member who leaves a removal; the re-adds a removal
 * owes others (`dependent`) travel with it. Judged otherwise, such a unit would wait for a window no schedule shows.
 */
function cadenceOk(unit: Unit, cadence: NonNullable<AudienceRow['cadence']>, now: number): boolean {
  const own = unit.items.filter((i) => !i.dependent);
  const needsAdd = own.some((i) => i.entry.desired !== null);
  const needsRemove = own.some((i) => i.entry.desired === null);
  if (needsAdd && !cadenceAllows(cadence.lastAdd, now, cadence.windowMs)) return false;
  if (needsRemove && !cadenceAllows(cadence.lastRemove, now, cadence.windowMs)) return false;
  return true;
}

/**
 * Builds an audience's identifier index from its delivered users, in one transaction, and marks it built; commits keep
 * it from then on. Until an audience's first removal nothing reads the index, so growing audiences (initial loads
 * above all) skip writing a row per identifier. The caller holds the audience's claim, so no commit runs meanwhile.
 */
async function indexIdentifiers(rt: EngineRuntime, audienceId: string): Promise<void> {
  const page = 5000;
  const rowsOf = (users: Array<{ member: string; delivered: string | null }>) =>
    users.flatMap(({ member, delivered }) =>
      identifierPrefixes(parseUser(delivered)).map((ident) => ({ audience_id: audienceId, ident, member })),
    );
  if (rt.store.sqlite) {
    await rt.store.sqlite.exclusiveDurable((database) =>
      database.transaction(() => {
        const st = sqliteStatements(database);
        database.prepare('delete from engine_member_idents where audience_id = ?').run(audienceId);
        const next = database.prepare<[string, string, number], { member: string; delivered: string }>(
          `select member, delivered from engine_ledger
           where audience_id = ? and member > ? and delivered is not null order by member limit ?`,
        );
        for (let after = ''; ;) {
          const users = next.all(audienceId, after, page);
          for (const row of rowsOf(users)) st.insertMemberIdent.run(audienceId, row.ident, row.member);
          if (users.length < page) break;
          after = users[users.length - 1]!.member;
        }
        database.prepare('update engine_audiences set idents_indexed = 1 where id = ?').run(audienceId);
      })(),
    );
    return;
  }
  let indexed = 0;
  await rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    await db.deleteFrom('engine_member_idents').where('audience_id', '=', audienceId).execute();
    for (let after = ''; ;) {
      const users = await db
        .selectFrom('engine_ledger')
        .select(['member', 'delivered'])
        .where('audience_id', '=', audienceId)
        .where('delivered', 'is not', null)
        .where('member', '>', after)
        .orderBy('member')
        .limit(page)
        .execute();
      const rows = rowsOf(users);
      indexed += rows.length;
      for (const chunk of chunkRows(rows, 3, rt.store.capabilities)) {
        await db
          .insertInto('engine_member_idents')
          .values(chunk)
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      if (users.length < page) break;
      after = users[users.length - 1]!.member;
    }
    await db
      .updateTable('engine_audiences')
      .set({ idents_indexed: 1 })
      .where('id', '=', audienceId)
      .execute();
  });
  // The removals that follow look their identifiers up in it.
  await rt.store.statistics.wrote({ engine_member_idents: indexed });
}

/**
 * Groups a page into units: a member whose removal wipes a merged X record travels with everyone that record held.
 * X merges users that share an identifier into one record, and a Delete by any identifier removes the whole record,
 * so the members reachable from a removal through shared delivered identifiers (transitively) form one unit; those
 * outside the page join it with a re-send owed. All removals of the page are explored together, a few hundred
 * identifiers per query.
 */
async function groupUnits(db: Db, audienceId: string, items: Map<string, Item>): Promise<Unit[]> {
  const parent = new Map<string, string>();
  const find = (m: string): string => {
    if (!parent.has(m)) parent.set(m, m);
    let root = m;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(m, root);
    return root;
  };
  const union = (a: string, b: string) => parent.set(find(a), find(b));

  // Each identifier reached (by its index key), with the member it was first reached through. Index keys are
  // prefixes: a key two identifiers share only adds members to a unit, which re-sends them.
  const reachedBy = new Map<number, string>();
  let frontier: number[] = [];
  const visit = (member: string, user: XUser | null) => {
    for (const ident of identifierPrefixes(user)) {
      const first = reachedBy.get(ident);
      if (first === undefined) {
        reachedBy.set(ident, member);
        frontier.push(ident);
      } else union(first, member);
    }
  };
  for (const item of items.values())
    if (item.change.remove !== null) visit(item.entry.member, mayHold(item.entry));

  const expanded = new Set<string>();
  while (frontier.length > 0) {
    const idents = frontier;
    frontier = [];
    const holders = new Set<string>();
    for (let i = 0; i < idents.length; i += 500) {
      const rows = await db
        .selectFrom('engine_member_idents')
        .select(['ident', 'member'])
        .where('audience_id', '=', audienceId)
        .where('ident', 'in', idents.slice(i, i + 500))
        .execute();
      for (const row of rows) {
        union(reachedBy.get(Number(row.ident))!, row.member);
        if (!expanded.has(row.member)) holders.add(row.member);
      }
    }
    // Each newly reached member's delivered identifiers go on; members outside the page are read first.
    const outside: string[] = [];
    for (const member of holders) {
      expanded.add(member);
      const item = items.get(member);
      if (item) visit(member, parseUser(item.entry.delivered));
      else outside.push(member);
    }
    for (let i = 0; i < outside.length; i += 500) {
      const rows = await db
        .selectFrom('engine_ledger')
        .select(['member', 'desired', 'delivered', 'sent'])
        .where('audience_id', '=', audienceId)
        .where('member', 'in', outside.slice(i, i + 500))
        .execute();
      for (const row of rows) {
        const entry: LedgerEntry = { ...row, resend: true };
        const change = planMemberChange(entry);
        if (change)
          items.set(row.member, { entry, change, accepted: { remove: false, add: false }, dependent: true });
        visit(row.member, parseUser(row.delivered));
      }
    }
  }

  // Without removals nothing was joined: every member is a unit of its own.
  if (parent.size === 0) return Array.from(items.values(), (item) => ({ items: [item] }));
  const units = new Map<string, Unit>();
  for (const [member, item] of items) {
    const root = find(member);
    let unit = units.get(root);
    if (!unit) units.set(root, (unit = { items: [] }));
    unit.items.push(item);
  }
  return [...units.values()];
}

interface Built {
  changes: UserChange[];
  owners: Array<{ item: Item; unit: Unit; kind: 'remove' | 'add' }>;
}

function buildChanges(units: readonly Unit[], expiresAt: Date | undefined): Built {
  const built: Built = { changes: [], owners: [] };
  // Every removal before every addition: X applies operations in order, and a Delete wipes the whole merged record.
  for (const unit of units) {
    for (const item of unit.items) {
      if (item.change.remove && !item.accepted.remove) {
        built.changes.push({ operation: 'Delete', user: item.change.remove });
        built.owners.push({ item, unit, kind: 'remove' });
      }
    }
  }
  for (const unit of units) {
    for (const item of unit.items) {
      if (item.change.add && !item.accepted.add) {
        // The added user is the desired one, read from its stored canonical text: the body takes that text as it is.
        const json = item.entry.desired!;
        built.changes.push(
          expiresAt
            ? { operation: 'Update', user: item.change.add, json, expiresAt }
            : { operation: 'Update', user: item.change.add, json },
        );
        built.owners.push({ item, unit, kind: 'add' });
      }
    }
  }
  return built;
}

/**
 * A users request X refused with a 400, being narrowed down to the members at fault. X names them in
 * `operation_errors` when it can; a request-level refusal (`errors` alone) may be about the request rather than its
 * members, so the first member refused on its own is held back until another request is accepted: a second one refused
 * alone before that shows the request itself is at fault, and nobody is dead-lettered.
 */
interface Bisection {
  /** The report's accepted requests when the bisection began: any more show the fault lies with members. */
  readonly since: number;
  /** A member refused alone at request level, dead-lettered once another request is accepted. */
  held: { unit: Unit; error: unknown } | null;
}

/**
 * Sends units, narrowing any request X refuses with a 400 down to the offending members (they go to the dead-letter
 * store; everyone else is delivered). Returns a stop for errors that end the pass, and for a refusal that is not
 * about any member.
 */
async function sendUnits(
  rt: EngineRuntime,
  client: EngineXClient,
  audience: AudienceRow,
  units: Unit[],
  report: AudienceDeliveryReport,
  pushed: { add: boolean; remove: boolean },
  /** When given, the last request is not sent: its units' items are pushed here, for the next page to fill it up. */
  hold: Item[] | null = null,
  /** Set while a refused request is being narrowed down. */
  bisection: Bisection | null = null,
): Promise<Stop | null> {
  const expiresAt =
    audience.ttlDays !== null ? new Date(rt.now() + audience.ttlDays * 86_400_000) : undefined;
  const built = buildChanges(units, expiresAt);
  if (built.changes.length === 0) {
    await commit(
      rt,
      audience,
      units.flatMap((u) => u.items),
      units,
      report,
    );
    return null;
  }
  const { requests, rejected } = planUserRequests(built.changes, { maxBytes: rt.tuning.requestMaxBytes });
  if (rejected.length > 0) {
    const bad = new Set(rejected.map((r) => built.owners[r.index]!.unit));
    for (const unit of bad) {
      const first = rejected.find((r) => built.owners[r.index]!.unit === unit)!;
      await deadLetter(rt, audience, unit, { code: first.code, message: first.message, details: [] }, report);
    }
    const rest = units.filter((u) => !bad.has(u));
    return rest.length > 0 ? sendUnits(rt, client, audience, rest, report, pushed, null, bisection) : null;
  }
  let toSend = requests;
  if (hold !== null && requests.length > 0) {
    toSend = requests.slice(0, -1);
    for (const unit of unitsOf(requests[requests.length - 1]!, built)) hold.push(...unit.items);
  }
  for (const request of toSend) {
    const requestUnits = unitsOf(request, built);
    const inflight = await recordSending(rt, audience.id, requestUnits, addsOf(request, built));
    try {
      // X advises retrying a users request at once, then after 1 minute, then after 5: the engine's back-off
      // (`nextAttemptAt`) does exactly that, so the client adds no retries of its own.
      await client.postUsers(audience.accountId, audience.xAudienceId, request, { retries: 0 });
    } catch (error) {
      // X may have applied part of it, or all of it before the connection broke: record the write-ahead first.
      await writeInflight(rt, audience.id, inflight, audience);
      if (!isXAdsError(error) || error.kind !== 'validation') return classify(error);
      const narrowing = bisection ?? { since: report.requests, held: null };
      const stop = await narrowDown(
        rt,
        client,
        audience,
        request,
        requestUnits,
        built,
        error,
        report,
        pushed,
        narrowing,
      );
      if (stop) return stop;
      // The bisection began here and ended with nothing else to judge by: the one member refused goes, as X said.
      if (bisection === null && narrowing.held !== null) {
        await deadLetter(rt, audience, narrowing.held.unit, describe(narrowing.held.error), report);
        narrowing.held = null;
      }
      continue;
    }
    report.requests += 1;
    if (bisection?.held) {
      // A request was accepted after a member was refused alone: that member was at fault.
      await deadLetter(rt, audience, bisection.held.unit, describe(bisection.held.error), report);
      bisection.held = null;
    }
    // What this request carried of each member (a member's removal and re-addition may travel apart).
    const carried = new Map<Item, { remove: boolean; add: boolean }>();
    for (const index of request.changeIndexes) {
      const owner = built.owners[index]!;
      owner.item.accepted[owner.kind] = true;
      const kinds = carried.get(owner.item) ?? { remove: false, add: false };
      kinds[owner.kind] = true;
      carried.set(owner.item, kinds);
      if (owner.kind === 'add') pushed.add = true;
      else pushed.remove = true;
    }
    await commit(rt, audience, [...carried.keys()], requestUnits, report, inflight.id, carried);
  }
  return null;
}

/**
 * Narrows a refused users request down. The units X names in `operation_errors` are the suspects: the others go in a
 * request of their own. Suspects are split in halves down to single members, who are dead-lettered; a member refused
 * alone at request level is judged by the rest of the bisection (see `Bisection`).
 */
async function narrowDown(
  rt: EngineRuntime,
  client: EngineXClient,
  audience: AudienceRow,
  request: PackedRequest,
  requestUnits: Unit[],
  built: Built,
  error: XAdsError,
  report: AudienceDeliveryReport,
  pushed: { add: boolean; remove: boolean },
  bisection: Bisection,
): Promise<Stop | null> {
  const send = (units: Unit[]) => sendUnits(rt, client, audience, units, report, pushed, null, bisection);
  const named = new Set(changeIndexesForError(request, error).map((index) => built.owners[index]!.unit));
  if (named.size > 0 && named.size < requestUnits.length) {
    const suspects = requestUnits.filter((unit) => named.has(unit));
    return (await send(requestUnits.filter((unit) => !named.has(unit)))) ?? (await send(suspects));
  }
  if (requestUnits.length > 1) {
    const half = Math.ceil(requestUnits.length / 2);
    return (await send(requestUnits.slice(0, half))) ?? (await send(requestUnits.slice(half)));
  }
  const unit = requestUnits[0]!;
  // A unit holds members one's removal joins (they share an X record): each goes on its own.
  if (unit.items.length > 1) return send(unit.items.map((item) => ({ items: [item] })));
  if (named.size > 0 || report.requests > bisection.since) {
    await deadLetter(rt, audience, unit, describe(error), report);
    return null;
  }
  if (bisection.held === null) {
    bisection.held = { unit, error };
    return null;
  }
  // A second member refused alone, and nothing accepted since the bisection began: the request is at fault, not its
  // members. Every change stays pending; the dataflow stops with X's reason.
  return { stop: true, outcome: 'error', message: 'x_refused', error };
}

/** The items whose additions a request carries. */
function addsOf(request: PackedRequest, built: Built): Item[] {
  const items: Item[] = [];
  for (const index of request.changeIndexes) {
    const owner = built.owners[index]!;
    if (owner.kind === 'add') items.push(owner.item);
  }
  return items;
}

function unitsOf(request: PackedRequest, built: Built): Unit[] {
  const units: Unit[] = [];
  const seen = new Set<Unit>();
  for (const index of request.changeIndexes) {
    const unit = built.owners[index]!.unit;
    if (!seen.has(unit)) {
      seen.add(unit);
      units.push(unit);
    }
  }
  return units;
}

function describe(error: unknown): { code: string; message: string; details: unknown[] } {
  if (isXAdsError(error)) {
    return {
      code: error.xCode ?? error.details[0]?.code ?? error.kind.toUpperCase(),
      message: error.message,
      details: error.details,
    };
  }
  return { code: 'UNKNOWN', message: error instanceof Error ? error.message : String(error), details: [] };
}

function classify(error: unknown): Stop {
  if (isXAdsError(error)) {
    if (error.kind === 'auth' || error.kind === 'permission')
      return { stop: true, outcome: 'paused', message: error.message, error };
    if (error.kind === 'not_found')
      return { stop: true, outcome: 'error', message: 'x_audience_gone', error };
    // A 400 on create, rename or delete, or on users requests whatever members they carry: it would be refused again.
    if (error.kind === 'validation') return { stop: true, outcome: 'error', message: 'x_refused', error };
    return {
      stop: true,
      outcome: 'retrying',
      message: error.message,
      error,
      ...(error.retryAt !== undefined ? { nextAttemptAt: error.retryAt } : {}),
      ...(error.kind === 'rate_limited' ? { rateLimited: true } : {}),
    };
  }
  return {
    stop: true,
    outcome: 'retrying',
    message: error instanceof Error ? error.message : String(error),
    error,
  };
}

/**
 * Marks what X accepted, in one transaction: each touched member's delivered state (a re-send is still owed when the
 * desired state moved on meanwhile), the delivered-identifier index, re-sends owed by members whose record a
 * committed Delete wiped, and the run counters.
 */
async function commit(
  rt: EngineRuntime,
  audience: AudienceRow,
  touched: readonly Item[],
  units: readonly Unit[],
  report: AudienceDeliveryReport,
  /** The request's write-ahead row, settled by this commit. */
  inflight: string | null = null,
  /** What the request carried of each touched member, so each identity is counted once (default: all accepted). */
  carried?: ReadonlyMap<Item, { remove: boolean; add: boolean }>,
): Promise<void> {
  const now = rt.now();
  const caps = rt.store.capabilities;
  const expires =
    audience.ttlDays !== null ? now + audience.ttlDays * 86_400_000 : defaultMembershipExpiry(now);
  const counters = new RunCounters();
  let added = 0;
  let removed = 0;
  const updates = touched.map((item) => {
    const delivered = deliveredAfter(item.entry, item.accepted, item.change);
    const here = carried?.get(item) ?? item.accepted;
    if (here.add && !item.dependent && item.entry.desired !== item.entry.delivered)
      added += identifierCount(item.change.add);
    if (here.remove) removed += identifierCount(item.change.remove);
    // Index keys of the identifiers X holds for the member before and after: the index drops and gains the difference.
    const changed = audience.identsIndexed && item.entry.delivered !== delivered;
    const before = changed ? identifierPrefixes(parseUser(item.entry.delivered)) : [];
    // The delivered user is mostly the desired one, which the change holds parsed already.
    const after = !changed
      ? []
      : identifierPrefixes(
          delivered === item.entry.desired && item.change.add ? item.change.add : parseUser(delivered),
        );
    return {
      member: item.entry.member,
      unindexed: before.filter((ident) => !after.includes(ident)),
      indexed: after.filter((ident) => !before.includes(ident)),
      delivered,
      sent: sentAfter(item.entry, item.accepted),
      addOk: item.accepted.add ? 1 : 0,
      complete:
        (item.change.add === null || item.accepted.add) &&
        (item.change.remove === null || item.accepted.remove)
          ? 1
          : 0,
      planned: item.entry.desired,
    };
  });
  // Members of a unit whose record a committed Delete wiped but whose re-add is not committed yet.
  const owed = new Set<string>();
  for (const unit of units) {
    if (!unit.items.some((i) => i.accepted.remove)) continue;
    for (const item of unit.items) if (item.change.add && !item.accepted.add) owed.add(item.entry.member);
  }
  report.added += added;
  report.removed += removed;
  // A commit that settles a write-ahead records a request X accepted.
  if (inflight !== null) countRequest(counters, audience, now);
  if (added > 0) {
    counters.add({ dataflowId: audience.dataflowId, metric: 'identities_added', value: added, at: now });
    counters.add({
      dataflowId: audience.dataflowId,
      audienceId: audience.id,
      metric: 'identities_added',
      value: added,
      at: now,
    });
  }
  if (removed > 0) {
    counters.add({ dataflowId: audience.dataflowId, metric: 'identities_removed', value: removed, at: now });
    counters.add({
      dataflowId: audience.dataflowId,
      audienceId: audience.id,
      metric: 'identities_removed',
      value: removed,
      at: now,
    });
  }

  if (rt.store.sqlite) {
    await rt.store.sqlite.exclusiveDurable((database) =>
      database.transaction(() => {
        const st = sqliteStatements(database);
        for (const u of updates) {
          // Mostly X accepted the member's whole change and its desired user is still the one read: the short
          // statement settles it. Otherwise (or when the desired user moved on meanwhile) the full one decides.
          const accepted =
            u.complete === 1 &&
            u.addOk === 1 &&
            u.sent === null &&
            u.planned !== null &&
            u.delivered === u.planned;
          if (
            !accepted ||
            st.commitAccepted.run(expires, now, audience.id, u.member, u.planned!).changes === 0
          )
            st.commitMember.run({
              audience: audience.id,
              member: u.member,
              delivered: u.delivered,
              sent: u.sent,
              addOk: u.addOk,
              complete: u.complete,
              planned: u.planned,
              expires,
              now,
            });
          // The index follows the delivered user: only the identifiers that changed are written.
          for (const ident of u.unindexed) st.deleteMemberIdent.run(audience.id, ident, u.member);
          for (const ident of u.indexed) st.insertMemberIdent.run(audience.id, ident, u.member);
        }
        for (const member of owed) st.owe.run(now, now, audience.id, member);
        if (inflight !== null) st.deleteInflight.run(inflight);
        counters.writeSqlite(st);
        // Rolls the commit back when another worker took the audience over meanwhile.
        renewLeaseSqlite(st, rt, audience.id, now);
      })(),
    );
    return;
  }
  const indexed = updates.flatMap((u) =>
    u.indexed.map((ident) => ({ audience_id: audience.id, ident, member: u.member })),
  );
  await rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    const L = sql.ref('engine_ledger.desired');
    const settledHere = sql`(v.complete = 1 and ${same(caps, L, sql.ref('v.planned'))})`;
    const done = sql`(${same(caps, L, sql.ref('v.delivered'))} and v.sent is null and (engine_ledger.resend = 0 or ${settledHere}))`;
    // Members in chunks that stay far below the audience's size: each is planned as probes of the ledger's key. In
    // member order, as ingest writes the ledger (`byLedgerKey`): the two wait for each other on its rows, not deadlock.
    const ordered = [...updates].sort(byMember);
    for (const chunk of chunksOf(ordered, UPDATE_CHUNK)) {
      const v = unnestRows('v', [
        ['member', 'text', chunk.map((u) => u.member)],
        ['delivered', 'text', chunk.map((u) => u.delivered)],
        ['sent', 'text', chunk.map((u) => u.sent)],
        ['add_ok', 'integer', chunk.map((u) => u.addOk)],
        ['complete', 'integer', chunk.map((u) => u.complete)],
        ['planned', 'text', chunk.map((u) => u.planned)],
      ]);
      await sql`update engine_ledger set
          delivered = v.delivered,
          sent = v.sent,
          resend = case when ${settledHere} then 0 else engine_ledger.resend end,
          expires_at = case when v.add_ok = 1 then ${expires} when v.delivered is null then null else engine_ledger.expires_at end,
          pending = case when ${done} then 0 else 1 end,
          pending_since = case when ${done} then null else coalesce(engine_ledger.pending_since, ${now}) end,
          updated_at = ${now}
        from ${v} where engine_ledger.audience_id = ${audience.id} and engine_ledger.member = v.member`.execute(
        db,
      );
    }
    const unindexed = updates.flatMap((u) => u.unindexed.map((ident) => ({ ident, member: u.member })));
    for (const chunk of chunkRows(unindexed, 2, caps)) {
      await sql`delete from engine_member_idents where audience_id = ${audience.id} and (ident, member) in (${sql.join(
        chunk.map((r) => sql`(${typed(caps, r.ident, 'bigint')}, ${typed(caps, r.member, 'text')})`),
      )})`.execute(db);
    }
    for (const chunk of chunkRows(indexed, 3, caps)) {
      await db
        .insertInto('engine_member_idents')
        .values(chunk)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const owedList = [...owed];
    for (const chunk of chunkRows(owedList, 1, caps, 1000)) {
      await db
        .updateTable('engine_ledger')
        .set({
          resend: 1,
          pending: 1,
          pending_since: sql`coalesce(pending_since, ${now})` as never,
          updated_at: now,
        })
        .where('audience_id', '=', audience.id)
        .where('member', 'in', chunk)
        .execute();
    }
    if (inflight !== null) await db.deleteFrom('engine_inflight').where('id', '=', inflight).execute();
    await counters.write(db, caps);
    // Rolls the commit back when another worker took the audience over meanwhile.
    await renewLease(rt, audience.id, db, now);
  });
  await rt.store.statistics.wrote({ engine_member_idents: indexed.length });
}

/** One users request sent for the audience, in its dataflow's run and the audience's breakdown. */
function countRequest(
  counters: RunCounters,
  audience: Pick<AudienceRow, 'id' | 'dataflowId'>,
  at: number,
): void {
  counters.add({ dataflowId: audience.dataflowId, metric: 'x_requests', at });
  counters.add({ dataflowId: audience.dataflowId, audienceId: audience.id, metric: 'x_requests', at });
}

/** A request's write-ahead: every member of its units, with the user it adds (its canonical text, or null). */
export interface Inflight {
  id: string;
  members: Array<[member: string, sent: string | null]>;
}

/**
 * Write-ahead for a users request, made durable before it is sent: X may apply a request whose acceptance we never
 * record (a crash in between). One `engine_inflight` row lists every member of the request's units and, for each
 * user about to be added, that user merged with any earlier unknown outcome. The commit after X's acceptance deletes
 * the row; otherwise `writeInflight` writes it into the ledger.
 */
async function recordSending(
  rt: EngineRuntime,
  audienceId: string,
  units: readonly Unit[],
  adds: readonly Item[],
): Promise<Inflight> {
  for (const item of adds) {
    const sent = parseUser(item.entry.sent ?? null);
    // The added user is the desired one, whose stored text is canonical already.
    item.entry.sent = sent ? serializeUser(mergeUsers([sent, item.change.add!])) : item.entry.desired;
  }
  // Units are disjoint (each member is in one), so one pass lists every member once.
  const adding = new Set(adds);
  const members: Inflight['members'] = [];
  for (const unit of units) {
    for (const item of unit.items)
      members.push([item.entry.member, adding.has(item) ? (item.entry.sent ?? null) : null]);
  }
  const inflight: Inflight = { id: rt.store.newId('inf'), members };
  const payload = inflightPayload(members);
  const now = rt.now();
  if (rt.store.sqlite) {
    await rt.store.sqlite.exclusiveDurable((database) => {
      const st = sqliteStatements(database);
      // Nothing is sent for an audience another worker took over.
      renewLeaseSqlite(st, rt, audienceId, now);
      st.insertInflight.run(inflight.id, audienceId, payload, now);
    });
  } else {
    await renewLease(rt, audienceId, undefined, now);
    await rt.store.db
      .insertInto('engine_inflight')
      .values({ id: inflight.id, audience_id: audienceId, members: payload, created_at: now })
      .execute();
  }
  return inflight;
}

/**
 * The stored form of a write-ahead's members: a JSON array of `[member, user]` pairs, each sent user embedded as the
 * JSON it is (its canonical text), not as a string holding it, which would escape every quote of it again.
 *
 * @example
 * inflightPayload([['12', '{"email":["4798…"]}'], ['13', null]]); // '[["12",{"email":["4798…"]}],["13",null]]'
 */
export function inflightPayload(members: Inflight['members']): string {
  const parts = new Array<string>(members.length);
  for (let i = 0; i < members.length; i += 1) {
    const [member, sent] = members[i]!;
    parts[i] = `[${JSON.stringify(member)},${sent ?? 'null'}]`;
  }
  return `[${parts.join(',')}]`;
}

/** Reads a write-ahead's members back; rows written before users were embedded hold each one as a string. */
export function parseInflightPayload(payload: string): Inflight['members'] {
  const pairs = JSON.parse(payload) as Array<[string, XUser | string | null]>;
  return pairs.map(([member, sent]) => [
    member,
    sent === null || typeof sent === 'string' ? sent : JSON.stringify(sent),
  ]);
}

/** Writes every write-ahead row left for the audience (after a crash or a failed commit) into the ledger. */
async function recoverInflight(rt: EngineRuntime, audienceId: string): Promise<void> {
  const rows = await rt.store.db
    .selectFrom('engine_inflight')
    .select(['id', 'members'])
    .where('audience_id', '=', audienceId)
    .orderBy('created_at')
    .execute();
  for (const row of rows) {
    await writeInflight(rt, audienceId, {
      id: row.id,
      members: parseInflightPayload(row.members),
    });
  }
}

/**
 * Writes a request's write-ahead into the ledger and deletes its row, for a request whose outcome is unknown or was
 * not committed: each member pending with a re-send owed (a Delete may have wiped its X record, even if its desired
 * state later returns to the delivered one) and each added user in `sent`, so that its identifiers are removed later
 * if they stop being desired.
 */
async function writeInflight(
  rt: EngineRuntime,
  audienceId: string,
  inflight: Inflight,
  /** The audience of a request that just failed, counted in its run (a recovered one was counted by no one). */
  failed?: Pick<AudienceRow, 'id' | 'dataflowId'>,
): Promise<void> {
  const { id, members } = inflight;
  const now = rt.now();
  const counters = new RunCounters();
  if (failed) countRequest(counters, failed, now);
  if (rt.store.sqlite) {
    await rt.store.sqlite.exclusiveDurable((database) =>
      database.transaction(() => {
        const st = sqliteStatements(database);
        for (const [member, sent] of members) st.markSending.run(now, sent, audienceId, member);
        st.deleteInflight.run(id);
        counters.writeSqlite(st);
      })(),
    );
    return;
  }
  const caps = rt.store.capabilities;
  await rt.store.transaction(async (tx) => {
    for (const chunk of chunkRows(members, 1, caps, 1000)) {
      await sql`update engine_ledger set pending = 1, pending_since = coalesce(pending_since, ${now}),
          resend = 1
        where audience_id = ${audienceId} and member in (${sql.join(chunk.map(([member]) => member))})`.execute(
        tx.db,
      );
    }
    const adds = members.filter(([, sent]) => sent !== null);
    for (const chunk of chunkRows(adds, 2, caps)) {
      const values = sql.join(
        chunk.map(([member, sent]) => sql`(${typed(caps, member, 'text')}, ${typed(caps, sent, 'text')})`),
      );
      await sql`with v(member, sent) as (values ${values})
        update engine_ledger set sent = v.sent from v
        where engine_ledger.audience_id = ${audienceId} and engine_ledger.member = v.member`.execute(tx.db);
    }
    await tx.db.deleteFrom('engine_inflight').where('id', '=', id).execute();
    await counters.write(tx.db as unknown as Db, caps);
  });
}

/** Clears pending flags of entries that need nothing sent (their desired state already holds at X). */
async function settle(rt: EngineRuntime, audienceId: string, members: string[]): Promise<void> {
  const caps = rt.store.capabilities;
  for (const chunk of chunkRows(members, 1, caps, 1000)) {
    await sql`update engine_ledger set pending = 0, resend = 0, sent = null, pending_since = null
      where audience_id = ${audienceId} and member in (${sql.join(chunk)}) and ${same(caps, sql.ref('desired'), sql.ref('delivered'))}`.execute(
      rt.store.db,
    );
  }
}

/** Stores the members of a unit X refused as dead letters; they are not retried until their desired state changes. */
async function deadLetter(
  rt: EngineRuntime,
  audience: AudienceRow,
  unit: Unit,
  error: { code: string; message: string; details: unknown[] },
  report: AudienceDeliveryReport,
): Promise<void> {
  const now = rt.now();
  const caps = rt.store.capabilities;
  const counters = new RunCounters();
  await rt.store.transaction(async (tx) => {
    for (const item of unit.items) {
      const operations = [
        ...(item.change.remove ? [{ operation: 'Delete', user: item.change.remove }] : []),
        ...(item.change.add ? [{ operation: 'Update', user: item.change.add }] : []),
      ];
      await tx.db
        .insertInto('engine_dead_letters')
        .values({
          id: rt.store.newId('dl'),
          sandbox_id: audience.sandboxId,
          dataflow_id: audience.dataflowId,
          audience_id: audience.id,
          member: item.entry.member,
          operations: JSON.stringify(operations),
          error_code: error.code,
          error_message: error.message,
          error_details: JSON.stringify(error.details),
          created_at: now,
        })
        .execute();
      const planned = item.entry.desired;
      await sql`update engine_ledger set dead = ${planned ?? ''}, resend = 0,
          pending = case when ${same(caps, sql.ref('desired'), sql`${planned}`)} then 0 else 1 end, updated_at = ${now}
        where audience_id = ${audience.id} and member = ${item.entry.member}`.execute(tx.db);
      const failed = identifierCount(item.change.add) + identifierCount(item.change.remove);
      counters.add({
        dataflowId: audience.dataflowId,
        metric: 'identities_failed',
        code: error.code,
        value: failed,
        at: now,
      });
      counters.add({
        dataflowId: audience.dataflowId,
        audienceId: audience.id,
        metric: 'identities_failed',
        code: error.code,
        value: failed,
        at: now,
      });
      report.deadLettered += 1;
    }
    await counters.write(tx.db as unknown as Db, caps);
  });
  rt.logger.warn(
    { audienceId: audience.id, members: unit.items.length, code: error.code },
    'members dead-lettered',
  );
}

/**
 * After a pass whose X audience X confirmed gone: the pass that starts it over, at once. Null when the pass did not
 * start over, or was itself such a pass: an X that keeps losing new audiences is then backed off like any failure.
 */
async function startOverNow(
  rt: EngineRuntime,
  audienceId: string,
  stop: Stop,
  startedOver: boolean,
): Promise<AudienceDeliveryReport | null> {
  if (!stop.startedOver) return null;
  if (!startedOver) return deliverAudience(rt, audienceId, true);
  await noteFailure(rt, audienceId, stop);
  return null;
}

/** The report of a pass that found its X audience gone, followed by the pass that started it over. */
function afterStartOver(
  before: AudienceDeliveryReport,
  after: AudienceDeliveryReport,
): AudienceDeliveryReport {
  return {
    ...after,
    requests: before.requests + after.requests,
    added: before.added + after.added,
    removed: before.removed + after.removed,
    deadLettered: before.deadLettered + after.deadLettered,
  };
}

/**
 * After a 404 about an X audience: starts the audience over (`resetXAudience`) only when X confirms the X audience is
 * gone (`xAudienceGone`). True when it did.
 */
export async function resetIfGone(
  rt: EngineRuntime,
  audienceId: string,
  x: { client: EngineXClient; accountId: string; xAudienceId: string },
): Promise<boolean> {
  if (!(await xAudienceGone(x.client, x.accountId, x.xAudienceId))) return false;
  await resetXAudience(rt, audienceId);
  return true;
}

/**
 * The X audience is gone (deleted outside the engine, as X confirmed): start over with a new one holding every desired
 * member.
 */
export async function resetXAudience(rt: EngineRuntime, audienceId: string): Promise<void> {
  const now = rt.now();
  await rt.store.transaction(async (tx) => {
    await tx.db
      .updateTable('engine_audiences')
      .set({
        x_audience_id: null,
        x_audience_name: null,
        name_base: null,
        created_by_engine: 0,
        creating_at: null,
        updated_at: now,
      })
      .where('id', '=', audienceId)
      .execute();
    await tx.db
      .updateTable('dataflow_audiences')
      .set({ x_audience_id: null, x_audience_name: null, state: 'pending_create', updated_at: now })
      .where('id', '=', audienceId)
      .execute();
    await sql`update engine_ledger set delivered = null, sent = null, resend = 0, expires_at = null,
        pending = case when desired is null then 0 else 1 end,
        pending_since = case when desired is null then null else cast(${now} as bigint) end
      where audience_id = ${audienceId}`.execute(tx.db);
    await tx.db.deleteFrom('engine_member_idents').where('audience_id', '=', audienceId).execute();
    // Requests in flight went to the audience that is gone.
    await tx.db.deleteFrom('engine_inflight').where('audience_id', '=', audienceId).execute();
  });
  rt.logger.warn({ audienceId }, 'X audience not found; it will be recreated with every desired member');
}

/**
 * Schedules the next attempt of an audience whose pass stopped and is retried: after a failure, on the back-off
 * ladder (`nextAttemptAt`), one step further; after a rate limit, which is X pacing requests and no failure of the
 * audience, when the window resets, the ladder left where it was.
 */
async function noteFailure(rt: EngineRuntime, audienceId: string, stop: Stop): Promise<void> {
  if (stop.outcome !== 'retrying') return;
  const row = await rt.store.db
    .selectFrom('engine_audiences')
    .select('failures')
    .where('id', '=', audienceId)
    .executeTakeFirst();
  const rateLimited = stop.rateLimited === true;
  const failures = (row?.failures ?? 0) + (rateLimited ? 0 : 1);
  const next = nextAttemptAt({
    now: rt.now(),
    failures,
    retryAt: stop.nextAttemptAt ?? undefined,
    rateLimited,
    random: rt.random,
  });
  stop.nextAttemptAt = next;
  await rt.store.db
    .updateTable('engine_audiences')
    .set({ failures, next_attempt_at: next, last_error: stop.message, updated_at: rt.now() })
    .where('id', '=', audienceId)
    .execute();
  rt.logger.warn(
    { audienceId, failures, nextAttemptAt: next, error: stop.message },
    rateLimited ? "delivery waits for X's rate limit to reset" : 'delivery will be retried',
  );
}

/** What a refused call on an X audience tried to do, by its method. */
const AUDIENCE_ACTIONS: Readonly<Record<string, string>> = {
  POST: 'create',
  PUT: 'rename',
  DELETE: 'delete',
};

/**
 * What a failed call means for the audience: pause on 401/403; stop the dataflow on a refused create, rename or delete
 * (400), or a users request refused whatever members it carries; start over when X confirms the audience is gone;
 * back off otherwise.
 */
async function onError(
  rt: EngineRuntime,
  where: {
    audienceId: string;
    dataflowId: string;
    sandboxId: string;
    destination: Destination | null;
    /** Where to confirm a 404: the X audience the failed call was about. */
    x?: { client: EngineXClient; accountId: string; xAudienceId: string | null };
  },
  error: unknown,
  _failures: number,
): Promise<Stop> {
  const stop = classify(error);
  if (stop.outcome === 'paused' && where.destination) {
    await pauseDataflow(rt, {
      dataflowId: where.dataflowId,
      destination: where.destination,
      error: error as XAdsError,
    });
  } else if (stop.outcome === 'error' && stop.message === 'x_audience_gone') {
    const x = where.x;
    const xAudienceId = x?.xAudienceId ?? null;
    stop.outcome = 'retrying';
    stop.message = (error as XAdsError).message;
    // Gone for good (deleted at X, or the destination moved to another API base URL): nothing to wait for.
    if (x && xAudienceId !== null && (await resetIfGone(rt, where.audienceId, { ...x, xAudienceId })))
      return { ...stop, startedOver: true };
    rt.logger.warn(
      { audienceId: where.audienceId, xAudienceId },
      'X answered 404 but does not confirm the audience is gone; retrying',
    );
  } else if (stop.outcome === 'error' && stop.message === 'x_refused') {
    const refused = error as XAdsError;
    const what = refused.path?.endsWith('/users')
      ? 'members sent to the audience, whichever were sent (they stay pending)'
      : `to ${AUDIENCE_ACTIONS[refused.method ?? ''] ?? 'manage'} the audience`;
    stop.message = `X refused ${what}: ${refused.message}. Fix the cause, then resume the dataflow.`;
    // A dataflow no longer active (deleted, its audiences being removed) cannot be stopped: back off instead.
    if (!(await failDataflow(rt, { ...where, message: stop.message }))) stop.outcome = 'retrying';
  }
  await noteFailure(rt, where.audienceId, stop);
  return stop;
}

export { onError as handleDeliveryError };
