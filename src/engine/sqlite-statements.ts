import type BetterSqlite3 from 'better-sqlite3';
import { COUNTER_UPSERT_SQL } from './run-counters.ts';

/**
 * Prepared statements for SQLite hot paths (ingest and delivery commits): one compiled statement per shape, run
 * row by row inside one synchronous transaction, which on better-sqlite3 is far cheaper than compiling a
 * multi-row statement per batch. Semantics match the portable statements in `ledger-writes.ts` and `delivery.ts`.
 */
export interface SqliteStatements {
  /** By key prefix (`hashPrefix`), sandbox and key. */
  selectProfile: BetterSqlite3.Statement<
    [number, string, string],
    { id: number; identities: string; segments: string; key_gen: number }
  >;
  /**
   * Run, not `returning`: its `lastInsertRowid` is the id, and SQLite's `returning` buffers every row. The last
   * parameter is the key generation.
   */
  insertProfile: BetterSqlite3.Statement<[string, string, number, string, string, number, number]>;
  updateProfile: BetterSqlite3.Statement<[string, string, number, number]>;
  /** By id. */
  selectProfileById: BetterSqlite3.Statement<[number], { id: number; identities: string; segments: string }>;
  /** Sandbox, profile id, alias, alias prefix: a key of one of the profile's other ids (`engine_profile_aliases`). */
  insertAlias: BetterSqlite3.Statement<[string, number, string, number]>;
  /** The profiles that carried the id keyed `alias` beside their own key: alias prefix, sandbox, alias. */
  selectAliasOwners: BetterSqlite3.Statement<[number, string, string], { profile_id: number }>;
  /** Whether the sandbox holds any alias. */
  anyAlias: BetterSqlite3.Statement<[string], { one: number }>;
  /** A re-keyed sandbox's profile met under its new key: key, key prefix, generation, id. */
  adoptProfile: BetterSqlite3.Statement<[string, number, number, number]>;
  /** A profile met under the sandbox's current key generation: generation, id. */
  setKeyGeneration: BetterSqlite3.Statement<[number, number]>;
  /** Audience, member, desired user, pending (0 when the desired user is null, else 1), pending since, now. */
  upsertDesired: BetterSqlite3.Statement<[string, string, string | null, number, number | null, number]>;
  /** Dataflow, hour, audience, metric, code, value, the time it was counted at. */
  addCounter: BetterSqlite3.Statement<[string, number, string, string, string, number, number]>;
  selectRequest: BetterSqlite3.Statement<[string, string], { result: string; digest: string | null }>;
  insertRequest: BetterSqlite3.Statement<[string, string, string, number, string | null]>;
  commitMember: BetterSqlite3.Statement<{
    audience: string;
    member: string;
    delivered: string | null;
    sent: string | null;
    addOk: number;
    complete: number;
    planned: string | null;
    expires: number;
    now: number;
  }>;
  /**
   * `commitMember` for the common case, a member whose whole change X accepted and whose desired user is still the
   * one read (expires, now, audience, member, that user): positional and with nothing to compute. No row changes
   * when the desired user moved on meanwhile; `commitMember` then decides.
   */
  commitAccepted: BetterSqlite3.Statement<[number, number, string, string, string]>;
  deleteMemberIdent: BetterSqlite3.Statement<[string, number, string]>;
  insertMemberIdent: BetterSqlite3.Statement<[string, number, string]>;
  owe: BetterSqlite3.Statement<[number, number, string, string]>;
  /** Pending with a re-send owed; `sent` replaced when given (a user about to be added), kept when null. */
  markSending: BetterSqlite3.Statement<[number, string | null, string, string]>;
  insertInflight: BetterSqlite3.Statement<[string, string, string, number]>;
  deleteInflight: BetterSqlite3.Statement<[string]>;
  renewLease: BetterSqlite3.Statement<[number, string, string]>;
}

const cache = new WeakMap<BetterSqlite3.Database, SqliteStatements>();

export function sqliteStatements(db: BetterSqlite3.Database): SqliteStatements {
  const cached = cache.get(db);
  if (cached) return cached;
  const settled = `((excluded.desired is engine_ledger.delivered and engine_ledger.resend = 0 and engine_ledger.sent is null)
    or (engine_ledger.dead is not null and excluded.desired is engine_ledger.dead))`;
  const settledHere = `(@complete = 1 and desired is @planned)`;
  const done = `(desired is @delivered and @sent is null and (resend = 0 or ${settledHere}))`;
  const statements: SqliteStatements = {
    selectProfile: db.prepare(
      'select id, identities, segments, key_gen from engine_profiles where key_prefix = ? and sandbox_id = ? and profile_key = ?',
    ),
    insertProfile: db.prepare(
      `insert into engine_profiles (sandbox_id, profile_key, key_prefix, identities, segments, updated_at, key_gen)
       values (?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateProfile: db.prepare(
      'update engine_profiles set identities = ?, segments = ?, updated_at = ? where id = ?',
    ),
    selectProfileById: db.prepare('select id, identities, segments from engine_profiles where id = ?'),
    insertAlias: db.prepare(
      'insert or ignore into engine_profile_aliases (sandbox_id, profile_id, alias, alias_prefix) values (?, ?, ?, ?)',
    ),
    selectAliasOwners: db.prepare(
      'select profile_id from engine_profile_aliases where alias_prefix = ? and sandbox_id = ? and alias = ?',
    ),
    anyAlias: db.prepare('select 1 as one from engine_profile_aliases where sandbox_id = ? limit 1'),
    adoptProfile: db.prepare(
      'update engine_profiles set profile_key = ?, key_prefix = ?, key_gen = ? where id = ?',
    ),
    setKeyGeneration: db.prepare('update engine_profiles set key_gen = ? where id = ?'),
    upsertDesired: db.prepare(
      `insert into engine_ledger (audience_id, member, desired, pending, pending_since, updated_at)
       values (?, ?, ?, ?, ?, ?)
       on conflict (audience_id, member) do update set
         desired = excluded.desired,
         pending = case when ${settled} then 0 else 1 end,
         pending_since = case when ${settled} then null when engine_ledger.pending = 1 then engine_ledger.pending_since else excluded.updated_at end,
         updated_at = excluded.updated_at
       where engine_ledger.desired is not excluded.desired`,
    ),
    addCounter: db.prepare(
      `insert into engine_run_counters (dataflow_id, hour, audience_id, metric, code, value, last_at)
       values (?, ?, ?, ?, ?, ?, ?)
       on conflict (dataflow_id, hour, audience_id, metric, code) do update set ${COUNTER_UPSERT_SQL}`,
    ),
    selectRequest: db.prepare(
      'select result, digest from engine_ingest_requests where sandbox_id = ? and request_id = ?',
    ),
    insertRequest: db.prepare(
      'insert into engine_ingest_requests (sandbox_id, request_id, result, created_at, digest) values (?, ?, ?, ?, ?)',
    ),
    commitMember: db.prepare(
      `update engine_ledger set
         delivered = @delivered,
         sent = @sent,
         resend = case when ${settledHere} then 0 else resend end,
         expires_at = case when @addOk = 1 then @expires when @delivered is null then null else expires_at end,
         pending = case when ${done} then 0 else 1 end,
         pending_since = case when ${done} then null else coalesce(pending_since, @now) end,
         updated_at = @now
       where audience_id = @audience and member = @member`,
    ),
    commitAccepted: db.prepare(
      `update engine_ledger set delivered = desired, sent = null, resend = 0, expires_at = ?, pending = 0,
         pending_since = null, updated_at = ?
       where audience_id = ? and member = ? and desired = ?`,
    ),
    deleteMemberIdent: db.prepare(
      'delete from engine_member_idents where audience_id = ? and ident = ? and member = ?',
    ),
    insertMemberIdent: db.prepare(
      'insert or ignore into engine_member_idents (audience_id, ident, member) values (?, ?, ?)',
    ),
    owe: db.prepare(
      'update engine_ledger set resend = 1, pending = 1, pending_since = coalesce(pending_since, ?), updated_at = ? where audience_id = ? and member = ?',
    ),
    markSending: db.prepare(
      'update engine_ledger set pending = 1, pending_since = coalesce(pending_since, ?), resend = 1, sent = coalesce(?, sent) where audience_id = ? and member = ?',
    ),
    insertInflight: db.prepare(
      'insert into engine_inflight (id, audience_id, members, created_at) values (?, ?, ?, ?)',
    ),
    deleteInflight: db.prepare('delete from engine_inflight where id = ?'),
    renewLease: db.prepare('update engine_audiences set lease_until = ? where id = ? and lease_owner = ?'),
  };
  cache.set(db, statements);
  return statements;
}
