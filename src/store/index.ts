export { openStore, SQLITE_FILE, sqlitePath } from './open-store.ts';
export { isPostgresUrl } from './store-url.ts';
export { compactSqliteFile } from './compact.ts';
export { PostgresTableStatistics } from './table-statistics.ts';
export type { BulkTable, BulkWrites, TableStatistics } from './table-statistics.ts';
export type { SqliteFileShape } from './compact.ts';
export type { OpenStoreOptions, Repositories, SqliteAccess, Store, StoreTransaction } from './open-store.ts';
export { POSTGRES_CAPABILITIES, SQLITE_CAPABILITIES } from './capabilities.ts';
export type { Capabilities } from './capabilities.ts';
export { isForeignKeyViolation, isUniqueViolation, StoreError, storeUnavailable } from './errors.ts';
export type { StoreErrorCode } from './errors.ts';
export { randomId, sequentialIds } from './ids.ts';
export type { IdGenerator, IdPrefix } from './ids.ts';
export { insertMany } from './insert-many.ts';
export type { InsertManyOptions, OnConflict } from './insert-many.ts';
export { migrateToLatest, migrationStatus } from './migrate.ts';
export { lockUntilCommit } from './transaction-lock.ts';
export { SecretBox } from './secret-box.ts';
export { recordedKeyId } from './secret-key-rotation.ts';
export { loadSecretKey, parseSecretKey, SECRET_KEY_FILE } from './secret-key.ts';
export { SQLITE_PAGE_SIZE } from './sqlite-backend.ts';
export { SQLITE_CACHE_MB } from './sqlite-defaults.ts';
export type { SqliteSynchronous } from './sqlite-backend.ts';
export type { Database, EpochMs } from './schema/index.ts';
export { API_TOKEN_PREFIX, hashApiToken } from './repositories/api-tokens.ts';
export type { ApiToken } from './repositories/api-tokens.ts';
export type { AuditCursor, AuditEvent, AuditEventInput } from './repositories/audit-events.ts';
export { DEFAULT_SANDBOX_ID } from './repositories/sandboxes.ts';
export type { Sandbox } from './repositories/sandboxes.ts';
export type {
  CreateDestinationInput,
  Destination,
  DestinationCredentials,
  DestinationStatus,
  UpdateDestinationInput,
} from './repositories/destinations.ts';
export { DEFAULT_SEGMENT_NAMESPACE } from './repositories/segments.ts';
export type { Segment, SegmentInput, UpdateSegmentInput } from './repositories/segments.ts';
export {
  DEFAULT_CADENCE_WINDOW_SECONDS,
  MAX_BATCH_AGE_SECONDS,
  NO_DATA_ALERT_HOURS,
} from './repositories/dataflows.ts';
export type {
  AudienceRemovalAction,
  CadenceMode,
  CreateDataflowInput,
  Dataflow,
  DataflowStatus,
  StoredMappingRow,
  UpdateDataflowInput,
} from './repositories/dataflows.ts';
export type {
  Audience,
  AudienceHealth,
  AudienceState,
  CreateAudienceInput,
  UpdateAudienceInput,
} from './repositories/audiences.ts';
export { isActivated } from './repositories/audiences.ts';
