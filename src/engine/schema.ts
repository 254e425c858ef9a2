import type { Generated } from 'kysely';

/**
 * Table types of the engine's migrations (0100–0199), combined with the store's in `src/store/schema/index.ts`.
 * Conventions follow the store's: text ids, epoch-ms bigint timestamps, JSON in text columns, 0/1 integers.
 * No column ever holds a raw identifier: users are canonical JSON of SHA-256 digests (see `src/engine/xuser.ts`),
 * profile keys are keyed hashes.
 */

/** Epoch milliseconds. */
type EpochMs = number;

/** Per-profile segment membership and mapped identities, independent of dataflows (for backfill and mirror). */
export interface EngineProfilesTable {
  /** Surrogate id in arrival order: ledger members are this id as text (see migration 0102). */
  id: Generated<number>;
  sandbox_id: string;
  /** `k:` + HMAC of the profile's key identity, or `u:` + digest of its identifiers when it has no key. */
  profile_key: string;
  /** JSON `{ [mappingRowKey]: string[] }`: the values each mapping row produced (hashes). */
  identities: string;
  /** JSON array of the `ups` segment ids the profile is a member of. */
  segments: string;
  updated_at: EpochMs;
  /** The sandbox's `profile_key_generation` the key was made (or last met) under (migration 0110). */
  key_gen: Generated<number>;
}

/** Desired vs delivered state per (activated audience, member). */
export interface EngineLedgerTable {
  /** The dataflow audience id. */
  audience_id: string;
  /** The profile's `engine_profiles.id`, as text. */
  member: string;
  /** Canonical user X should hold for this member, or null (not a member). */
  desired: string | null;
  /** Canonical user X last accepted for this member, or null. */
  delivered: string | null;
  /**
   * A user sent to X whose acceptance is not recorded yet (written before the request, cleared by the commit after
   * it). After a crash X may hold it, so its identifiers are removed if no longer desired.
   */
  sent: string | null;
  /** 1 while X's state differs from the desired one (or a re-send is owed). */
  pending: number;
  pending_since: EpochMs | null;
  /** 1 when the desired user must be re-sent although X has it (refresh, or its X record was wiped). */
  resend: number;
  /** When the delivered membership expires at X. */
  expires_at: EpochMs | null;
  /** The desired user X rejected (dead-lettered); it is not retried until the desired state changes. */
  dead: string | null;
  updated_at: EpochMs;
}

/**
 * Which member holds which delivered identifier, to find users X merged into one record. `ident` is `hashPrefix` of
 * the identifier key (`type:value`): a lookup by it yields candidates, a superset of the true holders.
 */
export interface EngineMemberIdentsTable {
  audience_id: string;
  ident: number;
  member: string;
}

/** A profile's ids in key namespaces other than its key's, keyed as profile keys are (migration 0119). */
export interface EngineProfileAliasesTable {
  sandbox_id: string;
  alias_prefix: number;
  alias: string;
  profile_id: number;
}

/** The engine's state of each activated audience, kept after the dataflow audience is removed (to delete it at X). */
export interface EngineAudiencesTable {
  id: string;
  sandbox_id: string;
  dataflow_id: string;
  destination_id: string;
  segment_id: string;
  /** The X audience, once created or attached. */
  x_audience_id: string | null;
  x_audience_name: string | null;
  /** The mapping name the X name was made from (a suffix may have been added). */
  name_base: string | null;
  /** 1 when the engine created the X audience (only those are deleted on removal). */
  created_by_engine: number;
  /** Epoch ms of the create attempt in progress (a crash between X's create and the commit adopts it by marker). */
  creating_at: EpochMs | null;
  /** 'active' | 'removing' | 'removed'. */
  lifecycle: string;
  backfilled_at: EpochMs | null;
  /** When the members were removed because the end date passed (remove-at-end audiences); reset by a new backfill. */
  end_cleared_at: Generated<EpochMs | null>;
  /**
   * When the audience was found out of its schedule (an end date passed, a start moved later) with nothing removed:
   * its next backfill also drops the members who left the segment meanwhile, and resets it (migration 0117).
   */
  paused_at: Generated<EpochMs | null>;
  /**
   * 1 once `engine_member_idents` holds this audience's delivered identifiers (migration 0106). The index is built at
   * the first removal that needs it and kept up by every commit after; an audience that only ever grows never pays
   * for it.
   */
  idents_indexed: Generated<number>;
  failures: number;
  next_attempt_at: EpochMs | null;
  last_error: string | null;
  last_add_push_at: EpochMs | null;
  last_remove_push_at: EpochMs | null;
  flush_requested: number;
  /** When "Activate now" last queued every member for sending again (migration 0107). */
  resend_requested_at: Generated<EpochMs | null>;
  lease_owner: string | null;
  lease_until: EpochMs | null;
  updated_at: EpochMs;
}

/** Accepted ingest requests, so a retried request changes nothing. */
export interface EngineIngestRequestsTable {
  sandbox_id: string;
  request_id: string;
  /** JSON of the ingest result returned the first time. */
  result: string;
  created_at: EpochMs;
  /** SHA-256 (hex) of the request's content; null for requests stored before digests were kept. */
  digest: string | null;
}

/** Hourly run counters per dataflow (audience_id '' = the whole dataflow). */
export interface EngineRunCountersTable {
  dataflow_id: string;
  hour: EpochMs;
  audience_id: string;
  metric: string;
  code: string;
  value: number;
  /** When the counter last grew (null: written before this was kept; see migration 0111). */
  last_at: EpochMs | null;
}

/** Members X refused (400) after bisection isolated them. */
export interface EngineDeadLettersTable {
  id: string;
  sandbox_id: string;
  dataflow_id: string;
  audience_id: string;
  member: string;
  /** JSON of the operations that failed: `[{ operation, user }]` (hashes only). */
  operations: string;
  error_code: string;
  error_message: string;
  /** JSON of X's error details. */
  error_details: string;
  created_at: EpochMs;
  replayed_at: EpochMs | null;
}

/** Dataflows paused by the engine (401/403) and what the operator must fix. */
export interface EngineDataflowPausesTable {
  dataflow_id: string;
  reason_code: string;
  message: string;
  paused_at: EpochMs;
  /** The destination's updated_at when paused: a later update triggers a verify and resume. */
  destination_updated_at: EpochMs;
  last_verify_at: EpochMs | null;
}

/** Profile keys seen by a mirror-mode import (the file is the full audience). */
export interface EngineImportSeenTable {
  import_id: string;
  profile_key: string;
}

/** Write-ahead of a users request in flight (see migration 0105). */
export interface EngineInflightTable {
  id: string;
  audience_id: string;
  /** JSON `[[member, sent], …]`: every member of the request's units, with the user it adds (merged with any
   * earlier unknown outcome) or null. */
  members: string;
  created_at: EpochMs;
}

/** A file import, resumable until it completes (see migration 0108). */
export interface EngineImportsTable {
  sandbox_id: string;
  /** The caller's key (an upload's Idempotency-Key, `tca import --key`), or one the engine made. */
  key: string;
  /** Internal id: mirror-mode bookkeeping (`engine_import_seen`) is kept under it. */
  id: string;
  format: string;
  mode: string;
  segment_id: string | null;
  /** CSV: the namespace row keys are hashed under. */
  key_namespace: string;
  /** 'running' | 'interrupted' | 'failed' | 'complete'. */
  status: string;
  attempts: number;
  /** Rows (NDJSON lines, JSON array items, CSV records) per batch: every batch but the file's last is this long. */
  batch_size: number;
  /** Rows of the committed batches. */
  rows_committed: number;
  /** SHA-256 chain over the committed batches' digests (see `import-progress.ts`): '' before the first. */
  digest: string;
  /** JSON of the import report so far (the final one once complete). */
  report: string;
  /** Why the last attempt stopped, when it did not complete. */
  error: string | null;
  /** The sandbox's `profile_key_generation` the first batch was keyed under (null: begun before migration 0114). */
  key_gen: number | null;
  created_at: EpochMs;
  /** Also the heartbeat of a running attempt. */
  updated_at: EpochMs;
  finished_at: EpochMs | null;
}

/** Tables created by the engine's migrations. */
export interface EngineTables {
  engine_profiles: EngineProfilesTable;
  engine_ledger: EngineLedgerTable;
  engine_member_idents: EngineMemberIdentsTable;
  engine_profile_aliases: EngineProfileAliasesTable;
  engine_audiences: EngineAudiencesTable;
  engine_ingest_requests: EngineIngestRequestsTable;
  engine_run_counters: EngineRunCountersTable;
  engine_dead_letters: EngineDeadLettersTable;
  engine_dataflow_pauses: EngineDataflowPausesTable;
  engine_import_seen: EngineImportSeenTable;
  engine_inflight: EngineInflightTable;
  engine_imports: EngineImportsTable;
}
