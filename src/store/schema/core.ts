import type { Generated } from 'kysely';

/*
 * Column conventions (both backends):
 * - ids are text with a prefix (`dst_…`); timestamps are epoch milliseconds in a bigint column (read back as number);
 * - JSON values are text columns holding JSON, parsed by the repositories;
 * - booleans are integer 0/1.
 */

/** Epoch milliseconds. */
export type EpochMs = number;

export interface SandboxesTable {
  id: string;
  name: string;
  created_at: EpochMs;
  /**
   * JSON array of the identity namespaces a profile key comes from, in order of preference (migration 0003); null:
   * the service default. Fixed once the sandbox holds profiles (their keys are keyed hashes under these namespaces).
   */
  profile_key_namespaces: string | null;
  /** How many times the profile key namespaces changed while the sandbox held profiles (migration 0018). */
  profile_key_generation: Generated<number>;
  /** The re-keying in progress, JSON `{ from: string[]; since: EpochMs }`, or null (migration 0018). */
  profile_key_rekey: string | null;
  /**
   * 1 once a profile keyed by a key namespace other than the first may be stored (migration 0118): exports then look
   * their later key namespaces' ids up, to merge such a profile (see `ProfileEvaluation.aliasKeys`).
   */
  profile_key_aliases: Generated<number>;
  /** JSON array of the sandbox's consent policies (migration 0005; see `src/audience/consent.ts`). */
  consent_policies: Generated<string>;
  /** JSON array of the sandbox's own data-usage policies (migration 0006; see `src/audience/governance.ts`). */
  data_usage_policies: Generated<string>;
  /** JSON array of data-usage labels on mapped fields (migration 0007; see `src/audience/governance.ts`). */
  field_labels: Generated<string>;
}

export interface ApiTokensTable {
  id: string;
  sandbox_id: string;
  name: string;
  /** Lowercase hex SHA-256 of the whole token; the token itself is never stored. */
  token_hash: string;
  /** The token's first characters (`tca_AbCd`), to tell tokens apart in lists. */
  token_prefix: string;
  /** JSON array of permission names. */
  permissions: string;
  created_at: EpochMs;
  last_used_at: EpochMs | null;
  revoked_at: EpochMs | null;
}

export interface DestinationsTable {
  id: string;
  sandbox_id: string;
  name: string;
  description: string | null;
  account_id: string;
  /** SecretBox-sealed JSON of the X credentials, bound to the destination id; null until a login completes. */
  credentials: string | null;
  api_base_url: string | null;
  /** JSON array of marketing action names. */
  marketing_actions: string;
  /** SecretBox-sealed URL its alerts are posted to, bound to the destination id (a chat webhook's URL is a token). */
  alert_webhook_url: string | null;
  /** SecretBox-sealed PagerDuty routing key its alerts also go to, bound to the destination id (migration 0015). */
  alert_pagerduty_key: Generated<string | null>;
  /** JSON array of the addresses its alerts are also emailed to (migration 0013). */
  alert_email_to: Generated<string>;
  /** What its alert webhook takes: 'json', 'slack', 'teams' or 'google-chat' (migration 0014). */
  alert_webhook_format: Generated<string>;
  /** JSON array of the alert types its own targets receive, or null for every type (migration 0016). */
  alert_types: Generated<string | null>;
  status: string;
  status_reason: string | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface SegmentsTable {
  sandbox_id: string;
  /** The source's segment id (an AEP segment id). */
  id: string;
  namespace: Generated<string>;
  name: string;
  description: string | null;
  size_estimate: number | null;
  /** JSON array of data-usage labels (upper case), migration 0004. */
  labels: Generated<string>;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface DataflowsTable {
  id: string;
  sandbox_id: string;
  destination_id: string;
  name: string;
  description: string | null;
  /** JSON array of mapping rows. */
  mapping: string;
  max_batch_age_seconds: Generated<number>;
  cadence_mode: Generated<string>;
  cadence_window_seconds: Generated<number>;
  status: string;
  status_reason: string | null;
  on_audience_removal: Generated<string>;
  /** Hours without profiles before a `dataflow_no_data` alert fires; null: never (migration 0017). */
  no_data_alert_hours: Generated<number | null>;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface DataflowAudiencesTable {
  id: string;
  sandbox_id: string;
  dataflow_id: string;
  segment_id: string;
  mapping_name: string;
  start_date: EpochMs;
  end_date: EpochMs | null;
  existing_x_audience_id: string | null;
  ttl_days: number | null;
  /** 1: remove every member from the X audience when the end date passes (0: members stay). */
  remove_members_at_end: Generated<number>;
  x_audience_id: string | null;
  x_audience_name: string | null;
  state: string;
  audience_size: number | null;
  targetable: number | null;
  /** JSON array of X's reasons, or null before the first health check. */
  reasons_not_targetable: string | null;
  health_checked_at: EpochMs | null;
  last_delivery_at: EpochMs | null;
  created_at: EpochMs;
  updated_at: EpochMs;
}

export interface StoreMetaTable {
  key: string;
  value: string;
}

/** One change made through the API: who, when, what. Values are never stored, only the names of the fields sent. */
export interface AuditEventsTable {
  id: string;
  sandbox_id: string;
  at: EpochMs;
  token_id: string;
  /** The token's name when the change was made. */
  token_name: string;
  method: string;
  /** The route template, e.g. `/api/v1/dataflows/:id`. */
  route: string;
  /** What the route does, in a few words (its summary). */
  action: string;
  /** The resource the path names (its id), or null. */
  target: string | null;
  /** The HTTP status answered. */
  status: number;
  /** JSON array of the top-level body fields sent (names only). */
  fields: string;
}

/**
 * One alert (migration 0010; one row per alert since 0019): firing while `resolved_at` is null. A condition that fires
 * again after it resolved is a new alert, with a row of its own; at most one alert of a condition is firing.
 */
export interface AlertStatesTable {
  /** The alert's id (`alr_…`), the `alertId` its notifications carry. */
  id: string;
  /**
   * The condition, e.g. `df_…:paused` (an exclusion-rate alert's key names its run): unique among the firing alerts
   * (a partial unique index), not among all.
   */
  key: string;
  sandbox_id: string;
  dataflow_id: string;
  type: string;
  /** JSON of the alert as it fired. */
  alert: string;
  /** JSON array of the webhooks it went to (its resolution goes to the same ones). */
  urls: string;
  fired_at: EpochMs;
  resolved_at: EpochMs | null;
  /** 1 once its firing notification is queued; 0 while a silence holds it back. */
  notified: Generated<number>;
  /** When its firing notification, or its latest reminder, was queued. */
  last_notified_at: EpochMs | null;
  /** When someone acknowledged it (migration 0012): no reminder is sent after. Null: not acknowledged. */
  acknowledged_at: EpochMs | null;
  /** The token name that acknowledged it. */
  acknowledged_by: string | null;
}

/** A window in which a sandbox's alerts (of one dataflow or all, of one type or all) are recorded but not sent. */
export interface AlertSilencesTable {
  id: string;
  sandbox_id: string;
  /** Null: every dataflow of the sandbox. */
  dataflow_id: string | null;
  /** Null: every alert type. */
  type: string | null;
  starts_at: EpochMs;
  /** Ending a silence early sets this to the time it was ended. */
  ends_at: EpochMs;
  comment: string;
  /** The name of the token that made it. */
  created_by: string;
  created_at: EpochMs;
}

/** An alert notification waiting for its webhook to accept it. */
export interface AlertOutboxTable {
  /** Sorts in the order notifications were queued (the notification's own id is in the body). */
  id: string;
  type: string;
  url: string;
  body: string;
  created_at: EpochMs;
  attempts: Generated<number>;
  next_attempt_at: EpochMs;
  last_error: string | null;
}

/** Tables created by the store's migrations (0001–0099). */
export interface CoreTables {
  alert_states: AlertStatesTable;
  alert_outbox: AlertOutboxTable;
  alert_silences: AlertSilencesTable;
  audit_events: AuditEventsTable;
  sandboxes: SandboxesTable;
  api_tokens: ApiTokensTable;
  destinations: DestinationsTable;
  segments: SegmentsTable;
  dataflows: DataflowsTable;
  dataflow_audiences: DataflowAudiencesTable;
  store_meta: StoreMetaTable;
}
