import type { AsyncBuffer } from 'hyparquet';
import type { IngestBody } from './ingest-evaluate.ts';
import type { z } from 'zod';
import type * as S from './schemas.ts';
import type { Permission } from './permissions.ts';
import type { ErrorDetail } from './api-error.ts';
import type { FlushView } from './ports.ts';

// What the HTTP handlers need from the rest of the system. The handlers know nothing of the store's tables or the
// engine's internals; src/server/store-backend.ts implements this over the store and the engine. Every call is scoped
// to a sandbox id; an object of another sandbox is reported as absent (undefined), which the API answers with 404.

export type DestinationView = z.input<typeof S.DestinationSchema>;
export type SegmentView = z.input<typeof S.SegmentSchema>;
export type DataflowView = z.input<typeof S.DataflowSchema>;
export type FlushResultView = z.input<typeof S.FlushResultSchema>;
export type AudienceView = z.input<typeof S.AudienceSchema>;
export type DeadLetterView = z.input<typeof S.DeadLetterSchema>;
export type TokenView = z.input<typeof S.TokenSchema>;
export type SandboxView = { id: string; name: string; createdAt: string };
export type VerifyResult = z.input<typeof S.VerifyResultSchema>;
export type RunView = z.input<typeof S.RunSchema>;
export type PlanView = z.input<typeof S.PlanSchema>;
export type ImportReportView = z.input<typeof S.ImportReportSchema>;
export type ImportView = z.input<typeof S.ImportSchema>;
export type ProfileKeysView = z.input<typeof S.ProfileKeysSchema>;
export type ProfileKeysRekeyFinishView = z.input<typeof S.ProfileKeysRekeyFinishSchema>;
export type ConsentPoliciesView = z.input<typeof S.ConsentPoliciesSchema>;
export type DataUsagePoliciesView = z.input<typeof S.DataUsagePoliciesSchema>;
export type DataUsagePoliciesInput = z.output<typeof S.DataUsagePoliciesPutSchema>['policies'];
export type FieldLabelsView = z.input<typeof S.FieldLabelsSchema>;
export type FieldLabelsInput = z.output<typeof S.FieldLabelsPutSchema>['fields'];
export type ConsentPreviewView = z.input<typeof S.ConsentPreviewSchema>;
export type ErasureView = z.input<typeof S.ErasureSchema>;
export type AuditEventListView = z.input<typeof S.AuditEventListSchema>;
export type AuditFeedView = z.input<typeof S.AuditFeedSchema>;
export type AlertView = z.input<typeof S.AlertSchema>;
export type AlertSilenceView = z.input<typeof S.AlertSilenceSchema>;
export type MonitoringView = z.input<typeof S.MonitoringSchema>;

/** A change made through the API, as the audit trail records it (names of the body fields only, never values). */
export interface AuditRecord {
  sandboxId: string;
  tokenId: string;
  tokenName: string;
  method: string;
  route: string;
  action: string;
  target: string | null;
  status: number;
  fields: string[];
}
export type ConsentPoliciesInput = z.output<typeof S.ConsentPoliciesPutSchema>['policies'];

/** A file streamed in a request, to import (see `ServiceBackend.importFile`). */
export interface ImportInput {
  bytes: AsyncIterable<Uint8Array>;
  /** The declared length, null when unknown (a chunked upload). */
  totalBytes: number | null;
  /** How errors name the file (its name, or a URL without its query string); default "the upload". */
  name?: string | undefined;
  format: 'ndjson' | 'json' | 'csv';
  mode: 'incremental' | 'mirror';
  /** Mirror mode: the segment the file holds in full. */
  segmentId?: string | undefined;
  /** CSV: the namespace a row's profile_key is hashed under. */
  keyNamespace?: string | undefined;
  /** Mirror mode: the percentage of rows that may be rejected while absent members are still removed (default 5). */
  maxRejectedPercent?: number | undefined;
  /** Mirror mode: the percentage of the segment's known members that may be absent and removed (default 90). */
  maxRemovedPercent?: number | undefined;
  /** The import key (the request's Idempotency-Key): the same key resumes an unfinished import. */
  key?: string | undefined;
}

/** A Parquet import read by byte ranges (an object behind a URL): the options of `ImportInput`, and the object. */
export type RangedImportInput = Omit<ImportInput, 'bytes' | 'totalBytes' | 'format'> & {
  buffer: AsyncBuffer;
  /** How reports and errors name the object (its URL without the query string). */
  name: string;
};

export interface TokenRecord {
  id: string;
  name: string;
  sandboxId: string;
  sandbox: string;
  permissions: Permission[];
  revoked: boolean;
}

/** Outcome of a write that domain rules may refuse: every problem at once, as `{ path, reason }`. */
export type Checked<T> =
  | {
      ok: true;
      value: T;
      /** The request matched what is stored: nothing was written (no `updatedAt` moved), `value` is as it was. */
      unchanged?: boolean;
    }
  | { ok: false; problems: ErrorDetail[] };

export interface IngestOutcome {
  /** Items in the body. */
  received: number;
  accepted: number;
  duplicate: boolean;
  /**
   * Items that are not valid profile exports, by index in the body and, for NDJSON, line (one entry per problem, in
   * index order).
   */
  rejected: Array<{ index: number; line?: number; path: string; reason: string }>;
  /** Extra counters the engine reports (excluded by reason, …), passed through to the response. */
  extra?: Record<string, unknown>;
}

export interface ServiceBackend {
  /** Store reachable and migrations applied. */
  readiness(): Promise<{ ok: boolean; checks: Record<string, { ok: boolean; message: string }> }>;

  /**
   * Service-wide facts the console adapts to (never a secret); `audit` adds where the audit trail is pushed, for a
   * token that may read it.
   */
  settings(options?: { audit?: boolean }): Promise<z.input<typeof S.SettingsSchema>>;

  tokens: {
    /** The live token record for a presented token (any sandbox); undefined when unknown or revoked. */
    authenticate(token: string): Promise<TokenRecord | undefined>;
    touch(tokenId: string): Promise<void>;
    list(sandboxId: string): Promise<TokenView[]>;
    /** Issues a token; the secret is returned once and only its hash is stored. */
    create(input: {
      sandboxId: string;
      name: string;
      permissions: Permission[];
    }): Promise<{ token: string; view: TokenView }>;
    revoke(sandboxId: string, tokenId: string): Promise<boolean>;
  };
  audit: {
    record(event: AuditRecord): Promise<void>;
    /**
     * Newest first, of the sandbox (of every sandbox for null); `cursor` continues from the page before (a bad one
     * is a problem at `cursor`).
     */
    list(
      sandboxId: string | null,
      query: { limit: number; cursor?: string | undefined; target?: string | undefined },
    ): Promise<Checked<AuditEventListView>>;
    /**
     * Oldest first after `after`, for a poller (a SIEM collector): only events a few seconds old, so none is
     * recorded behind the cursor after it has passed. A bad cursor is a problem at `after`.
     */
    feed(
      sandboxId: string | null,
      query: { limit: number; after?: string | undefined },
    ): Promise<Checked<AuditFeedView>>;
  };
  sandboxes: {
    list(): Promise<SandboxView[]>;
    get(name: string): Promise<SandboxView | undefined>;
    create(name: string): Promise<SandboxView>;
  };
  destinations: {
    list(sandboxId: string): Promise<DestinationView[]>;
    get(sandboxId: string, id: string): Promise<DestinationView | undefined>;
    create(
      sandboxId: string,
      input: z.output<typeof S.DestinationCreateSchema>,
    ): Promise<Checked<DestinationView>>;
    update(
      sandboxId: string,
      id: string,
      patch: z.output<typeof S.DestinationPatchSchema>,
    ): Promise<Checked<DestinationView> | undefined>;
    remove(sandboxId: string, id: string): Promise<Checked<true> | undefined>;
    /**
     * Runs the preflight on the stored connection, or on a candidate (new account, API base URL or credentials),
     * which replaces the stored one only when every check passes.
     */
    verify(
      sandboxId: string,
      id: string,
      candidate?: z.output<typeof S.VerifyCandidateSchema>,
    ): Promise<VerifyResult | undefined>;
    /** Emails a test alert to the destination's own alert recipients; a problem when it has none. */
    testEmail(
      sandboxId: string,
      id: string,
    ): Promise<Checked<z.input<typeof S.TestEmailResultSchema>> | undefined>;
    /** Triggers and resolves a test incident with the destination's own PagerDuty key; a problem when it has none. */
    testPagerDuty(
      sandboxId: string,
      id: string,
    ): Promise<Checked<z.input<typeof S.TestPagerDutyResultSchema>> | undefined>;
    /** Sends a test notification to the destination's alert webhook; a problem when it has none. */
    testAlert(
      sandboxId: string,
      id: string,
    ): Promise<Checked<z.input<typeof S.TestAlertResultSchema>> | undefined>;
    loginStart(
      sandboxId: string,
      id: string,
      input: z.output<typeof S.LoginStartSchema>,
    ): Promise<Checked<z.input<typeof S.LoginStartResultSchema>> | undefined>;
    loginComplete(
      sandboxId: string,
      id: string,
      input: z.output<typeof S.LoginCompleteSchema>,
    ): Promise<Checked<DestinationView> | undefined>;
  };
  segments: {
    list(sandboxId: string): Promise<SegmentView[]>;
    create(sandboxId: string, input: z.output<typeof S.SegmentCreateSchema>): Promise<Checked<SegmentView>>;
    /** Undefined for an unknown segment; throws a policy_violation ApiError when new labels break an activation. */
    update(
      sandboxId: string,
      id: string,
      patch: z.output<typeof S.SegmentPatchSchema>,
    ): Promise<Checked<SegmentView> | undefined>;
    /** Undefined for an unknown segment; problems (one per dataflow) while a dataflow activates it. */
    remove(sandboxId: string, id: string): Promise<Checked<true> | undefined>;
  };
  dataflows: {
    list(sandboxId: string): Promise<DataflowView[]>;
    get(sandboxId: string, id: string): Promise<DataflowView | undefined>;
    create(sandboxId: string, input: z.output<typeof S.DataflowCreateSchema>): Promise<Checked<DataflowView>>;
    update(
      sandboxId: string,
      id: string,
      patch: z.output<typeof S.DataflowPatchSchema>,
    ): Promise<Checked<DataflowView> | undefined>;
    remove(sandboxId: string, id: string): Promise<boolean>;
    plan(sandboxId: string, id: string): Promise<PlanView | undefined>;
    runs(sandboxId: string, id: string, range: { from?: Date; to?: Date }): Promise<RunView[] | undefined>;
    /**
     * Every dataflow of the sandbox over a window (epoch ms; `range` ending at `to` or now, unless `from` is given):
     * counts, waiting changes, alerts, attention. A problem when the window is empty.
     */
    monitoring(
      sandboxId: string,
      window: { range: '24h' | '7d' | '30d'; from?: number; to?: number },
    ): Promise<Checked<MonitoringView>>;
    flush(sandboxId: string, id: string, options: { waitMs: number }): Promise<FlushView | undefined>;
  };
  audiences: {
    list(sandboxId: string, filter: { dataflowId?: string }): Promise<AudienceView[]>;
    /** Undefined for an audience that is not active in the sandbox; a 429 ApiError within 24 hours of the last. */
    activateNow(sandboxId: string, id: string): Promise<z.input<typeof S.ActivateNowSchema> | undefined>;
  };
  alerts: {
    /** Sends a test notification to the installation's webhook (TCA_ALERT_WEBHOOK_URL); a problem when none is set. */
    test(sandboxId: string): Promise<Checked<z.input<typeof S.TestAlertResultSchema>>>;
    /** Emails a test alert to the installation's alert recipients; a problem when alert emails are not set up. */
    testEmail(sandboxId: string): Promise<Checked<z.input<typeof S.TestEmailResultSchema>>>;
    /** Triggers and resolves a test incident through the installation's PagerDuty key; a problem when none is set. */
    testPagerDuty(sandboxId: string): Promise<Checked<z.input<typeof S.TestPagerDutyResultSchema>>>;
    /**
     * Acknowledges a firing alert (no more reminders; its PagerDuty incident acknowledged) by the named token; again
     * changes nothing. `not_found` or `resolved` when it cannot be.
     */
    acknowledge(
      sandboxId: string,
      alertId: string,
      by: string,
    ): Promise<AlertView | 'not_found' | 'resolved'>;
    /** Firing alerts and those resolved in the last 30 days, newest first. */
    list(
      sandboxId: string,
      filter: { status?: 'firing' | 'resolved' | undefined; dataflowId?: string | undefined; limit: number },
    ): Promise<AlertView[]>;
    silences: {
      /** Pending and active silences, soonest ending first; with `expired`, those ended in the last 30 days after. */
      list(sandboxId: string, filter: { expired: boolean }): Promise<AlertSilenceView[]>;
      /** Problems when the window is not a valid one or the dataflow is not the sandbox's. */
      create(
        sandboxId: string,
        input: z.output<typeof S.AlertSilenceInputSchema>,
        createdBy: string,
      ): Promise<Checked<AlertSilenceView>>;
      /** Ends it now; undefined when the sandbox has no silence with this id. */
      end(sandboxId: string, id: string): Promise<AlertSilenceView | undefined>;
    };
  };
  deadLetters: {
    list(sandboxId: string, filter: { dataflowId?: string; limit: number }): Promise<DeadLetterView[]>;
    replay(sandboxId: string, selection: { ids?: string[]; dataflowId?: string }): Promise<number>;
  };
  /**
   * Reads an ingest body and makes its valid profiles durable; resolves only when they are. `requestId` makes
   * retries of the same request harmless; `digest` (of the body, for a caller's own id) tells another body sent under
   * it. See `EnginePort.ingestBody`.
   */
  ingestBody(
    sandboxId: string,
    body: IngestBody,
    options: { requestId: string; digest?: string },
  ): Promise<IngestOutcome>;
  profileKeys: {
    get(sandboxId: string): Promise<ProfileKeysView>;
    /**
     * Refused (409) once the sandbox holds profiles, unless `rekey`; `null` returns to the service default. See
     * `setProfileKeyNamespaces` in `src/engine/identity-settings.ts`.
     */
    set(
      sandboxId: string,
      namespaces: string[] | null,
      options: { rekey?: boolean | undefined },
    ): Promise<ProfileKeysView>;
    /** Ends the re-keying in progress (409 when there is none). */
    finishRekey(
      sandboxId: string,
      options: { removeRemaining: boolean },
    ): Promise<ProfileKeysRekeyFinishView>;
  };
  dataUsagePolicies: {
    get(sandboxId: string): Promise<DataUsagePoliciesView>;
    /**
     * Replaces the sandbox's own policies (400 with every problem); throws a policy_violation ApiError when an
     * activation in place breaks the new set.
     */
    set(sandboxId: string, policies: DataUsagePoliciesInput): Promise<Checked<DataUsagePoliciesView>>;
  };
  fieldLabels: {
    get(sandboxId: string): Promise<FieldLabelsView>;
    /**
     * Replaces the labelled fields (400 with every problem); throws a policy_violation ApiError when a dataflow in
     * place exports a field the new labels forbid for its destination.
     */
    set(sandboxId: string, fields: FieldLabelsInput): Promise<Checked<FieldLabelsView>>;
  };
  consentPolicies: {
    get(sandboxId: string): Promise<ConsentPoliciesView>;
    /** Replaces the set (400 with every problem); the sandbox's audiences are then evaluated again. */
    set(sandboxId: string, policies: ConsentPoliciesInput): Promise<ConsentPoliciesView>;
    /** Undefined for an unknown destination. `mapping`: the fields the activation exports. */
    preview(
      sandboxId: string,
      destinationId: string | null,
      segmentIds: string[],
      mapping?: Array<{ sourceType: string; source: string }>,
    ): Promise<ConsentPreviewView | undefined>;
  };
  /**
   * Imports a streamed file (NDJSON, JSON array or CSV; incremental or mirror) and resolves with its report once
   * every batch is durable. A mirror segment must exist in the sandbox. See `EnginePort.importStream`.
   */
  importFile(sandboxId: string, input: ImportInput): Promise<Checked<ImportReportView>>;
  /** Imports the object at an allowed http(s) URL, as `importFile` does an upload. */
  importUrl(sandboxId: string, input: z.output<typeof S.ImportUrlSchema>): Promise<Checked<ImportReportView>>;
  imports: {
    /** The sandbox's imports, newest first. */
    list(sandboxId: string, limit: number): Promise<ImportView[]>;
    /** Undefined for an unknown key. */
    get(sandboxId: string, key: string): Promise<ImportView | undefined>;
  };
  /** A privacy request: erases the profiles the identities name (see `EnginePort.erase`). */
  erase(sandboxId: string, identities: Array<{ namespace: string; id: string }>): Promise<ErasureView>;
}
