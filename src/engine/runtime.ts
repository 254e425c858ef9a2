import { availableParallelism } from 'node:os';
import type { Destination, Store } from '../store/index.ts';
import { MAX_BODY_BYTES } from '../xads/pack-user-changes.ts';
import type { EngineXClient } from './x-port.ts';

/** Structured log sink (pino-compatible subset). Never pass identifiers or credentials. */
export interface EngineLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
  debug?(obj: Record<string, unknown>, msg?: string): void;
}

export const silentLogger: EngineLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Tunables of delivery; defaults in `DEFAULT_TUNING`, resolved by `resolveTuning`. */
export interface EngineTuning {
  /**
   * Pending members that fill a users request (flush at once when reached). Follows `requestMaxBytes` unless given
   * (see `resolveTuning`).
   */
  fullRequestUsers: number;
  /** Ledger rows read per delivery round. */
  pageSize: number;
  /** Largest users request body, in bytes: X's limit (5,000,000) by default; lower leaves headroom. */
  requestMaxBytes: number;
  /** Re-send still-desired members this long before X expires them. */
  refreshWindowMs: number;
  /** Audiences delivered at once by the worker (within the client's shared rate budget). */
  concurrency: number;
  /** How long a claimed audience stays claimed without renewal. */
  leaseMs: number;
  /** Health poll interval per audience. */
  healthIntervalMs: number;
  /** Worker tick. */
  tickMs: number;
  /** Run counters older than this are deleted. */
  runRetentionMs: number;
  /** Idempotency records older than this are deleted. */
  requestRetentionMs: number;
  /** Audit events older than this are deleted. */
  auditRetentionMs: number;
  /** File imports (their reports, and what an unfinished one needs to resume) are kept this long after their last write. */
  importRetentionMs: number;
  /** A running import attempt that has written nothing for this long is taken to be dead, and may be resumed. */
  importStaleMs: number;
  /** Namespaces that give the profile key when a dataflow names none. */
  profileKeyNamespaces: string[];
  /** Worker threads that parse and hash large import files while the main thread writes (0: none). */
  importThreads: number;
}

/**
 * The bytes a member is taken to need in a users request when counting how many fill one: a user with two hashed
 * identifiers is about 170 in the body; the rest is headroom (X's 5,000,000 bytes make 25,000 members).
 */
export const BYTES_PER_REQUEST_USER = 200;

/** How many pending members fill a users request of `requestMaxBytes` (at least one). */
function fullRequestUsersFor(requestMaxBytes: number): number {
  return Math.max(1, Math.floor(requestMaxBytes / BYTES_PER_REQUEST_USER));
}

export const DEFAULT_TUNING: EngineTuning = {
  fullRequestUsers: fullRequestUsersFor(MAX_BODY_BYTES),
  pageSize: 50_000,
  requestMaxBytes: MAX_BODY_BYTES,
  refreshWindowMs: 30 * 86_400_000,
  concurrency: 4,
  leaseMs: 60_000,
  healthIntervalMs: 3_600_000,
  tickMs: 1_000,
  runRetentionMs: 90 * 86_400_000,
  requestRetentionMs: 7 * 86_400_000,
  auditRetentionMs: 400 * 86_400_000,
  importRetentionMs: 30 * 86_400_000,
  importStaleMs: 60_000,
  profileKeyNamespaces: ['ECID', 'CRMID'],
  // One per core beyond the first (the main thread writes the store), at most 4.
  importThreads: Math.max(0, Math.min(4, availableParallelism() - 1)),
};

/**
 * The tuning an engine runs with: the defaults, overridden by `given`. A request size given without a member count
 * brings its own count (`BYTES_PER_REQUEST_USER` each), so that a smaller request is also flushed sooner.
 *
 * @example
 * resolveTuning({ requestMaxBytes: 3000 }).fullRequestUsers; // 15
 */
export function resolveTuning(given: Partial<EngineTuning> = {}): EngineTuning {
  const tuning = { ...DEFAULT_TUNING, ...given };
  if (given.requestMaxBytes !== undefined && given.fullRequestUsers === undefined)
    tuning.fullRequestUsers = fullRequestUsersFor(given.requestMaxBytes);
  return tuning;
}

/** Everything the engine's parts share. */
export interface EngineRuntime {
  store: Store;
  clientFor: (destination: Destination) => EngineXClient | Promise<EngineXClient>;
  now: () => number;
  random: () => number;
  logger: EngineLogger;
  tuning: EngineTuning;
  /** This process's id for audience leases. */
  workerId: string;
}
