import type { CustomPolicy, CustomPolicyInput, FieldLabel, FieldLabelInput } from '../audience/governance.ts';
import type { ErrorDetail } from './api-error.ts';
import type {
  IngestOutcome,
  PlanView,
  RunView,
  DeadLetterView,
  VerifyResult,
  ImportInput,
  ImportReportView,
  RangedImportInput,
  ImportView,
  ProfileKeysRekeyFinishView,
  ProfileKeysView,
  ConsentPoliciesInput,
  ConsentPoliciesView,
  ConsentPreviewView,
  ErasureView,
} from './backend.ts';
import type { IngestBody } from './ingest-evaluate.ts';
import type { DeliveryOutlook, RunTotals } from '../engine/index.ts';
import type { z } from 'zod';
import type * as S from './schemas.ts';

// The narrow interfaces the service needs from the activation engine, the X client and the pure domain rules. The
// adapters that implement them (engine-adapter.ts, x-connection.ts, domain-rules.ts) are the only server files that
// know those modules' APIs.

export type { DeliveryOutlook } from '../engine/index.ts';

export interface EnginePort {
  /**
   * Reads, validates and evaluates an ingest body (on worker threads when configured) and makes its valid profiles
   * durable; resolves only when they are. Throws an ApiError for a body that cannot be read and a 400 when every
   * item is rejected (nothing is written then). A repeated `requestId` with the same body is a no-op reported as
   * `duplicate`; with another body (`digest`: the body's, kept with the id) it is a 409 `idempotency_conflict`
   * (nothing is written). An id made from the body itself needs no digest.
   */
  ingestBody(sandboxId: string, body: IngestBody, requestId: string, digest?: string): Promise<IngestOutcome>;
  /**
   * Imports a streamed file in batches (each durable when written), on the engine's import threads. Throws an
   * ApiError (400) for a file that cannot be read as its format (a bad CSV header, a JSON body that is not an array)
   * or an upload cut off before its end: the batches before stay, and mirror mode then removes nothing.
   */
  importStream(sandboxId: string, input: ImportInput): Promise<ImportReportView>;
  /** `importStream` of a Parquet file read by byte ranges; a range that cannot be read is a 400 too. */
  importRanges(sandboxId: string, input: RangedImportInput): Promise<ImportReportView>;
  /** The sandbox's imports, newest first. */
  imports(sandboxId: string, limit: number): Promise<ImportView[]>;
  /** Undefined for an unknown key. */
  importStatus(sandboxId: string, key: string): Promise<ImportView | undefined>;
  /**
   * Queues every member of an audience to be sent again; undefined for an audience not active in the sandbox. Throws
   * an ApiError 429 (with Retry-After) within 24 hours of the last time.
   */
  activateNow(
    sandboxId: string,
    audienceId: string,
  ): Promise<{ audienceId: string; queued: number; nextAllowedAt: string } | undefined>;
  /** A privacy request (see `Engine.erase`); throws an ApiError 400 for too many identities. */
  erase(sandboxId: string, identities: Array<{ namespace: string; id: string }>): Promise<ErasureView>;
  /** The sandbox's profile key namespaces. */
  profileKeys(sandboxId: string): Promise<ProfileKeysView>;
  /**
   * Changes them; throws an ApiError 409 once the sandbox holds profiles unless `rekey` (and while a re-keying is in
   * progress), 400 for a bad list.
   */
  setProfileKeys(
    sandboxId: string,
    namespaces: string[] | null,
    options: { rekey?: boolean | undefined },
  ): Promise<ProfileKeysView>;
  /** Ends the re-keying in progress; throws an ApiError 409 when there is none. */
  finishProfileRekey(
    sandboxId: string,
    options: { removeRemaining: boolean },
  ): Promise<ProfileKeysRekeyFinishView>;
  consentPolicies(sandboxId: string): Promise<ConsentPoliciesView>;
  /** Replaces them; throws an ApiError 400 with every problem. */
  setConsentPolicies(sandboxId: string, policies: ConsentPoliciesInput): Promise<ConsentPoliciesView>;
  /** Undefined for an unknown destination. */
  consentPreview(
    sandboxId: string,
    destinationId: string | null,
    segmentIds: string[],
    mapping?: Array<{ sourceType: string; source: string }>,
  ): Promise<ConsentPreviewView | undefined>;
  /**
   * What decides audiences' users or consent changed (a destination's marketing actions, a dataflow's mapping, labels
   * of a segment or of mapped fields): those in scope are evaluated again from the stored profiles.
   */
  reevaluate(scope: {
    sandboxId: string;
    destinationId?: string;
    dataflowId?: string;
    segmentId?: string;
  }): Promise<void>;
  /** Stops what the adapter started (ingest worker threads). */
  close(): Promise<void>;
  plan(sandboxId: string, dataflowId: string): Promise<PlanView>;
  runs(sandboxId: string, dataflowId: string, range: { from?: Date; to?: Date }): Promise<RunView[]>;
  /** Each dataflow's run counts summed over `[from, to]` (epoch ms). */
  runTotals(
    dataflowIds: readonly string[],
    window: { from: number; to: number },
  ): Promise<Map<string, RunTotals>>;
  /** When each dataflow last received profiles, since `since` (epoch ms); absent: none since. */
  lastReceivedAt(dataflowIds: readonly string[], since: number): Promise<Map<string, number>>;
  /**
   * Delivers the dataflow's pending changes now, waiting up to `waitMs` for the deliveries to finish: their reports
   * when they do, else the audiences still being delivered (the deliveries go on in the background).
   */
  flush(sandboxId: string, dataflowId: string, options: { waitMs: number }): Promise<FlushView>;
  /**
   * Resumes, in one store transaction, the dataflows paused on 401/403 of a destination that has just passed its
   * checks, `checkedUpdatedAt` being its `updatedAt` when they ran. Returns the ids resumed (see
   * `Engine.resumeCheckedDestination`).
   */
  resumeCheckedDestination(
    sandboxId: string,
    destinationId: string,
    checkedUpdatedAt: number,
  ): Promise<string[]>;
  pendingTotals(): Promise<{ adds: number; removes: number }>;
  /** Each audience's waiting changes and when the worker sends them at the latest (see `Engine.deliveryOutlook`). */
  outlook(sandboxId: string, audienceIds: readonly string[]): Promise<Map<string, DeliveryOutlook>>;
  deadLetters(sandboxId: string, filter: { dataflowId?: string; limit: number }): Promise<DeadLetterView[]>;
  replayDeadLetters(sandboxId: string, selection: { ids?: string[]; dataflowId?: string }): Promise<number>;
  /** Starts delivery workers; `stop` drains in-flight deliveries. */
  startWorker(): { stop(): Promise<void> };
}

/** What `POST /dataflows/:id/flush` answers (see `EnginePort.flush`). */
export type FlushView = DistributiveOmit<z.input<typeof S.FlushResultSchema>, 'dataflowId'>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface XCredentialsInput {
  consumerKey: string;
  consumerSecret: string;
  accessToken: string;
  accessTokenSecret: string;
}

/**
 * A preflight's answer, and why it did not pass (for the destination's status, not for the API answer):
 * `credentials` missing or refused by X (401); `refused` X answered and refused something else (403, 404, a check's
 * finding); `unreachable` X could not be reached or did not answer usefully (network, timeout, 5xx, 429).
 */
export type CheckedConnection = VerifyResult & { failure?: 'credentials' | 'refused' | 'unreachable' };

export interface XConnectionPort {
  verify(input: {
    apiBaseUrl: string;
    accountId: string;
    credentials: XCredentialsInput | undefined;
  }): Promise<CheckedConnection>;
  loginStart(input: {
    apiBaseUrl: string;
    consumerKey: string;
    consumerSecret: string;
  }): Promise<{ authorizeUrl: string; requestToken: string; requestTokenSecret: string }>;
  loginComplete(input: {
    apiBaseUrl: string;
    consumerKey: string;
    consumerSecret: string;
    requestToken: string;
    requestTokenSecret: string;
    pin: string;
  }): Promise<{ accessToken: string; accessTokenSecret: string }>;
}

export interface DomainRules {
  /**
   * X's naming rules for audience names, descriptions and mapping names; problems are human-readable reasons that
   * call the value `label` (e.g. 'destination name'; the field's own by default).
   */
  checkName(
    value: string,
    field: 'name' | 'description' | 'mappingName',
    label?: string,
  ): { ok: true } | { ok: false; reason: string };
  /**
   * Names the service keeps but never sends to X (dataflows, segments): not blank once trimmed, no control
   * characters, at most 200 characters. The reason calls the value `label` and ends with a fix.
   */
  checkDisplayName(value: string, label: string): { ok: true } | { ok: false; reason: string };
  /** A segment id as registered: not blank, no whitespace around it, no control characters (it is matched exactly). */
  checkSegmentId(value: string): { ok: true } | { ok: false; reason: string };
  /** Mapping rows: problems at `[index].field`. */
  checkMapping(rows: readonly unknown[]): ErrorDetail[];
  /** Data-usage labels: problems at `[index]`; and the labels as stored (upper case, each once). */
  checkLabels(labels: readonly string[]): { problems: ErrorDetail[]; labels: string[] };
  /**
   * A destination's marketing actions: a slip of a core action (`Export to third-party`) is a problem at `[index]`
   * naming the core one; and the actions as stored (core ones in their core spelling, each once).
   */
  checkMarketingActions(actions: readonly string[]): { problems: ErrorDetail[]; actions: string[] };
  /**
   * The data-usage policies an activation of `segments` to a destination used for `marketingActions` breaks, each
   * with its segment and what to do.
   */
  policyViolations(
    marketingActions: readonly string[],
    segments: ReadonlyArray<{ id: string; name: string; labels: readonly string[] }>,
    custom: readonly CustomPolicy[],
  ): Array<{ segmentId: string; reason: string }>;
  /**
   * The data-usage policies an activation breaks through its mapping: each mapping row whose source field carries a
   * label a policy forbids for the destination's marketing actions, with what to do.
   */
  mappingPolicyViolations(
    marketingActions: readonly string[],
    mapping: ReadonlyArray<{ sourceType: string; source: string }>,
    fields: readonly FieldLabel[],
    custom: readonly CustomPolicy[],
  ): Array<{ index: number; reason: string }>;
  /** Labelled fields as a whole: their stored form, or every problem at `fields[i].field`. */
  checkFieldLabels(
    input: readonly FieldLabelInput[],
  ): { ok: true; fields: FieldLabel[] } | { ok: false; problems: ErrorDetail[] };
  /** The sandbox's own data-usage policies as a whole: their stored form, or every problem at `policies[i].field`. */
  checkCustomPolicies(
    input: readonly CustomPolicyInput[],
    newId: () => string,
  ): { ok: true; policies: CustomPolicy[] } | { ok: false; problems: ErrorDetail[] };
}
