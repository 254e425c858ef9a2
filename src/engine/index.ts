/**
 * The activation engine: keeps every activated X audience equal to its source audience.
 *
 * source → ingest (map, normalize, hash, filter) → ledger (desired vs delivered, hash-only) → delivery (plan batches
 * → X client) → X → feedback (runs, health, dead letters).
 */
import type { AsyncBuffer } from 'hyparquet';
import { randomUUID } from 'node:crypto';
import type { Destination, Store } from '../store/index.ts';
import type { AudienceDeliveryReport } from './delivery.ts';
import {
  listDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type DeadLetterSelection,
} from './dead-letters.ts';
import { activateNow, type ActivateNowResult } from './activate-now.ts';
import { eraseProfiles, type ErasureIdentity, type ErasureResult } from './erasure.ts';
import {
  finishProfileRekey,
  profileKeySettings,
  setProfileKeyNamespaces,
  type ProfileKeySettings,
  type RekeyFinish,
} from './identity-settings.ts';
import {
  importProfiles,
  importProfilesFile,
  type ImportFormat,
  type ImportOptions,
  type ImportReport,
} from './import-file.ts';
import { ingestProfiles, type IngestOptions, type IngestResult } from './ingest.ts';
import {
  evaluationFingerprint,
  plainEvaluationContext,
  type PlainEvaluationContext,
} from './profile-state.ts';
import { loadSandboxContext } from './dataflow-context.ts';
import type { Db } from './sql-helpers.ts';
import { resumeCheckedDestination, resumeVerified } from './pauses.ts';
import { planDataflow, type DataflowPlan } from './plan.ts';
import { pendingTotals } from './pending-counts.ts';
import { deliveryOutlook, type DeliveryOutlook } from './outlook.ts';
import {
  countImports,
  getImport,
  listImports,
  type ImportStatus,
  type ImportView,
} from './import-progress.ts';
import {
  lastReceivedAt,
  listRuns,
  pruneHistory,
  runTotals,
  type DataflowRun,
  type RunTotals,
} from './runs.ts';
import {
  resolveTuning,
  silentLogger,
  type EngineLogger,
  type EngineRuntime,
  type EngineTuning,
} from './runtime.ts';
import { syncAudiences } from './sync.ts';
import type { ConsentPolicy, ConsentPolicyInput } from '../audience/consent.ts';
import {
  consentPolicies,
  consentPreview,
  reevaluateAudiences,
  type ReevaluationScope,
  setConsentPolicies,
  type ConsentPreview,
} from './consent-settings.ts';
import {
  AudienceLocks,
  deliverWithinWait,
  resetClaimed,
  dueAudiences,
  pollDueHealth,
  samplePending,
  startWorkerLoop,
} from './worker.ts';
import type { EngineXClient } from './x-port.ts';

export type { AudienceDeliveryReport } from './delivery.ts';
export type { DeliveryOutlook } from './outlook.ts';
export type { DeadLetter, DeadLetterSelection } from './dead-letters.ts';
export type { ImportFormat, ImportOptions, ImportReport, ImportWarning } from './import-file.ts';
export type { ImportStatus, ImportView } from './import-progress.ts';
export type { ProfileKeySettings, RekeyFinish } from './identity-settings.ts';
export { isScheduleActive } from './schedule.ts';
export type { ConsentPreview } from './consent-settings.ts';
export type { ActivateNowResult } from './activate-now.ts';
export type { IngestOptions, IngestResult, RejectedProfile } from './ingest.ts';
export type { AudienceAction, AudiencePlan, DataflowPlan } from './plan.ts';
export type { DataflowRun, RunCounts, RunTotals } from './runs.ts';
export type { EngineLogger, EngineTuning } from './runtime.ts';
export type { EngineXClient } from './x-port.ts';
export { EngineError, type EngineErrorCode } from './errors.ts';
export {
  evaluateProfile,
  evaluationContextOf,
  evaluationFingerprint,
  type EvaluationContext,
  type PlainEvaluationContext,
  type ProfileEvaluation,
} from './profile-state.ts';
export { EXCLUSION_CODES } from './profile-state.ts';

export interface EngineOptions {
  store: Store;
  /** The X client for a destination (the caller decrypts its credentials); `XAdsClient` fits. */
  clientFor: (destination: Destination) => EngineXClient | Promise<EngineXClient>;
  /** Clock (epoch ms); schedules, batch ages, runs and expiry all read it. */
  now?: () => number;
  random?: () => number;
  logger?: EngineLogger;
  /** Lease owner id of this process; a restarted process with the same id takes its audiences back at once. */
  workerId?: string;
  tuning?: Partial<EngineTuning>;
}

export interface FlushScope {
  sandboxId?: string;
  dataflowId?: string;
  audienceId?: string;
}

export interface FlushResult {
  audiences: AudienceDeliveryReport[];
  /** Audiences another worker was delivering (they are flagged and go out on its next pass). */
  skipped: string[];
}

export interface StartedFlush {
  /** The audiences flagged and being delivered, in id order. */
  audienceIds: string[];
  done: Promise<FlushResult>;
}

export interface Engine {
  /**
   * Applies a batch of profile exports (AEP shape; each is validated, bad ones rejected per item with JSON paths),
   * or profiles `evaluated` elsewhere (see `evaluationContext`). Durable when it resolves; idempotent per
   * `requestId`: the same id with other content (`requestDigest`, or the profiles' own) fails with `conflict`.
   */
  ingest(
    profiles: readonly unknown[],
    options: Pick<IngestOptions, 'sandboxId' | 'requestId' | 'requestDigest' | 'evaluated'>,
  ): Promise<IngestResult>;
  /**
   * What evaluating a profile needs (the sandbox's mapping rows and profile key namespaces) as plain data, with its
   * fingerprint: profiles evaluated with it elsewhere (a worker thread) go to `ingest` as `evaluated`.
   */
  evaluationContext(sandboxId: string): Promise<PlainEvaluationContext & { fingerprint: string }>;
  /** Delivers every pending change of the scope now (all audiences when empty) and resolves when done. */
  flush(scope?: FlushScope): Promise<FlushResult>;
  /**
   * `flush` in two steps: resolves once the scope's audiences are flagged for delivery (durably: a worker delivers a
   * flagged audience at its next tick, should this process stop first) and their deliveries started, with `done`
   * resolving when they finish. For callers that wait only so long (see `POST /dataflows/:id/flush?wait=`): given
   * that wait (`waitMs`), an audience X's rate limit holds back is delivered again when the limit resets within it,
   * rather than reported `retrying` at once.
   */
  startFlush(scope?: FlushScope, options?: { waitMs?: number }): Promise<StartedFlush>;
  /** Starts the background delivery loop; `stop()` drains in-flight deliveries. */
  startWorker(): { stop(): Promise<void> };
  /** Dry run for a dataflow: audiences to create/rename/delete, pending adds/removes, requests, a sample payload. */
  plan(dataflowId: string, options?: { sandboxId?: string }): Promise<DataflowPlan>;
  /** Hourly runs of a dataflow in a time range (default: last 24 h), newest first. */
  runs(dataflowId: string, range?: { from?: number; to?: number }): Promise<DataflowRun[]>;
  /** Each dataflow's run counts summed over a time range (default: last 24 h); zeroes for one with none. */
  runTotals(
    dataflowIds: readonly string[],
    range?: { from?: number; to?: number },
  ): Promise<Map<string, RunTotals>>;
  /** When each dataflow last received profiles, since `since` (epoch ms); absent: none since. */
  lastReceivedAt(dataflowIds: readonly string[], since: number): Promise<Map<string, number>>;
  /** Every audience's changes waiting for delivery, together. */
  pendingTotals(): Promise<{ adds: number; removes: number }>;
  /** The audiences the worker would deliver at its next tick (see `dueAudiences` in worker.ts). */
  dueAudiences(): Promise<string[]>;
  /** Each audience's waiting changes and when the worker sends them at the latest, and why then. */
  deliveryOutlook(audienceIds: readonly string[]): Promise<Map<string, DeliveryOutlook>>;
  /** Imports an NDJSON / JSON array / CSV file of profiles (streamed), incremental or mirror mode. */
  importFile(path: string, options: ImportOptions): Promise<ImportReport>;
  /**
   * Imports profiles from a byte stream (an upload) like `importFile`; the format must be given. `totalBytes` is the
   * stream's length when known. A stream that fails before its end throws a `source_failed` EngineError.
   */
  importStream(
    bytes: AsyncIterable<Uint8Array>,
    options: ImportOptions & { format: ImportFormat; name?: string; totalBytes?: number | null },
  ): Promise<ImportReport>;
  /**
   * Imports a Parquet file read by byte ranges (an object behind a URL) like `importFile`. A range that cannot be
   * read throws a `source_failed` EngineError (the import stops, resumable).
   */
  importRanges(
    buffer: AsyncBuffer,
    options: ImportOptions & { format: 'parquet'; name: string },
  ): Promise<ImportReport>;
  /** The sandbox's file imports, newest first (kept 30 days after their last write). */
  imports(sandboxId: string, options?: { limit?: number }): Promise<ImportView[]>;
  /** One import by its key: its status, the rows committed and the report so far; `not_found` when unknown. */
  importStatus(sandboxId: string, key: string): Promise<ImportView>;
  /** Imports kept in every sandbox, by status (for metrics). */
  importCounts(): Promise<Record<ImportStatus, number>>;
  /**
   * "Activate now": queues every current member of an audience to be sent to X again with its next delivery (which
   * it also requests). Once per 24 hours per audience (`too_soon` EngineError sooner); `not_found` for an audience
   * that is not active in the sandbox.
   */
  activateNow(sandboxId: string, audienceId: string): Promise<ActivateNowResult>;
  /**
   * A privacy request: erases the profiles its identities name (by profile key, or by an identifier a mapping reads)
   * from every audience and from storage; the next delivery removes them from X. `invalid_input` beyond 1,000.
   */
  erase(sandboxId: string, identities: readonly ErasureIdentity[]): Promise<ErasureResult>;
  /** How the sandbox's profiles are keyed, and whether that can still change. */
  profileKeySettings(sandboxId: string): Promise<ProfileKeySettings>;
  /**
   * Sets the identity namespaces the sandbox's profile keys come from (null: the default). Once the sandbox holds
   * profiles it needs `rekey` (else a `conflict` EngineError), and one re-keying at a time (`rekey_in_progress`);
   * `invalid_input` for a bad list. See `setProfileKeyNamespaces` in `identity-settings.ts`.
   */
  setProfileKeyNamespaces(
    sandboxId: string,
    namespaces: readonly string[] | null,
    options?: { rekey?: boolean },
  ): Promise<ProfileKeySettings>;
  /** Ends the sandbox's re-keying, optionally removing the profiles not met under the new keys (`not_found`: none). */
  finishProfileRekey(sandboxId: string, options: { removeRemaining: boolean }): Promise<RekeyFinish>;
  /** The sandbox's consent policies. */
  consentPolicies(sandboxId: string): Promise<ConsentPolicy[]>;
  /**
   * Replaces the sandbox's consent policies (`invalid_input` with every problem for a bad set); when they change,
   * every active audience of the sandbox is evaluated again from the stored profiles on the next sync.
   */
  setConsentPolicies(sandboxId: string, policies: readonly ConsentPolicyInput[]): Promise<ConsentPolicy[]>;
  /**
   * Evaluates active audiences again on the next sync, from the stored profiles: after what decides their users or
   * their consent policies changed (a destination's marketing actions, a dataflow's mapping, labels of a segment or
   * of mapped fields). Returns how many audiences were marked.
   */
  reevaluate(scope: ReevaluationScope): Promise<number>;
  /**
   * Before an activation: of the known profiles, and of each segment's known members, how many the destination's
   * consent policies keep (every policy without a destination; `not_found` for an unknown destination). Policies on
   * labels apply through each segment's labels and those of the fields `mapping` exports.
   */
  consentPreview(
    sandboxId: string,
    destinationId: string | null,
    segmentIds: readonly string[],
    mapping?: ReadonlyArray<{ sourceType: string; source: string }>,
  ): Promise<ConsentPreview>;
  /** Reconciles audiences with dataflows (new, removed, backfill); the worker and flush call it too. */
  sync(scope?: { sandboxId?: string }): Promise<void>;
  /** Polls X for size/targetability of audiences not checked within the interval. */
  pollHealth(): Promise<number>;
  /**
   * Samples the changes waiting for delivery into the current runs (the worker does it every 30 s): `pendingChanges`
   * and `pendingPeak` of a run. Returns the samples recorded (none for dataflows idle now and at the last sample).
   */
  samplePending(): Promise<number>;
  /** Resumes dataflows paused on 401/403 whose destination was updated and verifies. */
  resumePaused(): Promise<string[]>;
  /**
   * Resumes, in one transaction, the dataflows paused on 401/403 of a destination that has just passed its checks,
   * `checkedUpdatedAt` being its `updatedAt` when they ran (see `resumeCheckedDestination`). Returns the ids resumed.
   */
  resumeCheckedDestination(input: {
    sandboxId: string;
    destinationId: string;
    checkedUpdatedAt: number;
  }): Promise<string[]>;
  /** Deletes run counters past 90 days and stale idempotency records. */
  prune(): Promise<void>;
  /**
   * Forgets the X audiences of a dataflow, for when X no longer holds them (its store was wiped, e.g. a fresh
   * emulator): each is created again on the next delivery with every desired member. Each is reset under its lease;
   * returns how many were (one another worker holds starts over at its next delivery, when X answers 404).
   */
  recreateXAudiences(dataflowId: string): Promise<number>;
  /** Members X refused (hashes and X's error), newest first. */
  deadLetters(sandboxId: string, filter?: { dataflowId?: string; limit?: number }): Promise<DeadLetter[]>;
  /** Makes dead-lettered members pending again (all of the sandbox's, or the given ids); returns how many. */
  replayDeadLetters(sandboxId: string, selection?: DeadLetterSelection): Promise<number>;
}

/**
 * Creates the engine over an open store.
 *
 * @example
 * const store = await openStore({ dataDir: './data' });
 * const engine = createEngine({
 *   store,
 *   clientFor: async (destination) => new XAdsClient({ credentials: await credentialsOf(destination) }),
 * });
 * await engine.ingest(profiles, { sandboxId: 'prod', requestId: 'batch-1' });
 * const worker = engine.startWorker(); // delivers when batches fill or age
 * await engine.flush({ dataflowId: 'df_1' }); // or right now
 * await worker.stop();
 */
export function createEngine(options: EngineOptions): Engine {
  const rt: EngineRuntime = {
    store: options.store,
    clientFor: options.clientFor,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    logger: options.logger ?? silentLogger,
    tuning: resolveTuning(options.tuning),
    workerId: options.workerId ?? `w_${randomUUID()}`,
  };
  const locks = new AudienceLocks();

  const engine: Engine = {
    ingest: (profiles, ingestOptions) =>
      ingestProfiles(rt.store, profiles, ingestOptions, {
        now: rt.now(),
        defaultKeyNamespaces: rt.tuning.profileKeyNamespaces,
      }),

    async evaluationContext(sandboxId) {
      const context = await loadSandboxContext(
        rt.store.db as unknown as Db,
        sandboxId,
        rt.tuning.profileKeyNamespaces,
      );
      return { ...plainEvaluationContext(context), fingerprint: evaluationFingerprint(context) };
    },

    async flush(scope = {}) {
      return (await engine.startFlush(scope)).done;
    },

    async startFlush(scope = {}, options = {}) {
      // A flush that waits does so in real time, whatever clock the engine runs on.
      const until = options.waitMs === undefined ? null : Date.now() + options.waitMs;
      await syncAudiences(rt, scope.sandboxId !== undefined ? { sandboxId: scope.sandboxId } : {});
      let query = rt.store.db.selectFrom('engine_audiences').select('id').where('lifecycle', '<>', 'removed');
      if (scope.sandboxId !== undefined) query = query.where('sandbox_id', '=', scope.sandboxId);
      if (scope.dataflowId !== undefined) query = query.where('dataflow_id', '=', scope.dataflowId);
      if (scope.audienceId !== undefined) query = query.where('id', '=', scope.audienceId);
      const ids = (await query.orderBy('id').execute()).map((r) => r.id);
      if (ids.length > 0) {
        await rt.store.db
          .updateTable('engine_audiences')
          .set({ flush_requested: 1 })
          .where('id', 'in', ids)
          .execute();
      }
      const result: FlushResult = { audiences: [], skipped: [] };
      const queue = [...ids];
      const done = Promise.all(
        Array.from({ length: Math.max(1, rt.tuning.concurrency) }, async () => {
          for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
            const report = await deliverWithinWait(rt, locks, id, until);
            if (report) result.audiences.push(report);
            else result.skipped.push(id);
          }
        }),
      ).then(() => {
        result.audiences.sort((a, b) => a.audienceId.localeCompare(b.audienceId));
        return result;
      });
      return { audienceIds: ids, done };
    },

    startWorker: () => startWorkerLoop(rt, locks),
    plan: (dataflowId, planOptions = {}) => planDataflow(rt, dataflowId, planOptions.sandboxId),
    runs: (dataflowId, range) => listRuns(rt, dataflowId, range),
    runTotals: (dataflowIds, range) => runTotals(rt, dataflowIds, range),
    lastReceivedAt: (dataflowIds, since) => lastReceivedAt(rt, dataflowIds, since),
    pendingTotals: () => pendingTotals(rt.store.db as unknown as Db),
    dueAudiences: () => dueAudiences(rt),
    deliveryOutlook: (audienceIds) => deliveryOutlook(rt, audienceIds),
    importFile: (path, importOptions) => importProfilesFile(rt, path, importOptions),
    importStream: (bytes, { name, totalBytes, ...importOptions }) =>
      importProfiles(
        rt,
        { kind: 'stream', name: name ?? 'the upload', bytes, totalBytes: totalBytes ?? null },
        importOptions,
      ),
    importRanges: (buffer, { name, ...importOptions }) =>
      importProfiles(rt, { kind: 'ranges', name, buffer }, importOptions),
    imports: (sandboxId, listOptions) => listImports(rt, sandboxId, listOptions),
    importStatus: (sandboxId, key) => getImport(rt, sandboxId, key),
    importCounts: () => countImports(rt),
    activateNow: (sandboxId, audienceId) => activateNow(rt, sandboxId, audienceId),
    erase: (sandboxId, identities) => eraseProfiles(rt, sandboxId, identities),
    profileKeySettings: (sandboxId) => profileKeySettings(rt, sandboxId),
    setProfileKeyNamespaces: (sandboxId, namespaces, options) =>
      setProfileKeyNamespaces(rt, sandboxId, namespaces, options),
    finishProfileRekey: (sandboxId, options) => finishProfileRekey(rt, sandboxId, options),
    consentPolicies: (sandboxId) => consentPolicies(rt, sandboxId),
    setConsentPolicies: (sandboxId, policies) => setConsentPolicies(rt, sandboxId, policies),
    reevaluate: (scope) => reevaluateAudiences(rt.store.db as unknown as Db, rt.now(), scope),
    consentPreview: (sandboxId, destinationId, segmentIds, mapping) =>
      consentPreview(rt, sandboxId, destinationId, segmentIds, mapping),
    sync: (scope) => syncAudiences(rt, scope ?? {}),
    pollHealth: () => pollDueHealth(rt, locks),
    samplePending: () => samplePending(rt),
    resumePaused: () => resumeVerified(rt),
    resumeCheckedDestination: (input) => resumeCheckedDestination(rt, input),
    prune: () => pruneHistory(rt),
    async recreateXAudiences(dataflowId) {
      const audiences = await rt.store.db
        .selectFrom('engine_audiences')
        .select('id')
        .where('dataflow_id', '=', dataflowId)
        .where('lifecycle', '=', 'active')
        .execute();
      let reset = 0;
      for (const { id } of audiences) if (await resetClaimed(rt, locks, id)) reset += 1;
      return reset;
    },
    deadLetters: (sandboxId, filter) => listDeadLetters(rt, sandboxId, filter),
    replayDeadLetters: (sandboxId, selection) => replayDeadLetters(rt, sandboxId, selection),
  };
  return engine;
}
