import { forwardedCursor } from './audit-forward.ts';
import { createMailer, smtpOrigin, type AlertEmail } from './alert-email.ts';
import { notTargetableAfterProcessing, SUBSCRIBABLE_TYPES } from './alert-types.ts';
import { openImportUrl, publicUrl, RangedUrl, urlFormat, urlImportKey, urlProblems } from './import-url.ts';
import { describeAllowList, type AllowedOrigin } from '../net/url-allow-list.ts';
import { PAGERDUTY_EVENTS_URL, type WebhookFormat } from '../config/index.ts';
import {
  createSilence,
  endSilence,
  listAlerts,
  acknowledgeAlert,
  testAlert,
  listSilences,
  MAX_SILENCE_MS,
  sendPagerDutyTest,
  sendTestAlert,
  type AlertSilence,
  type ListedAlert,
} from './alerts.ts';
import { POLICIES, type CustomPolicy, type FieldLabel } from '../audience/governance.ts';
import type {
  Store,
  Destination,
  Dataflow,
  Audience,
  Segment,
  ApiToken,
  AuditEvent,
  UpdateDestinationInput,
} from '../store/index.ts';
import { isActivated, recordedKeyId } from '../store/index.ts';
import type { ErrorDetail } from './api-error.ts';
import { accountInUse, connectionCheckFailed, policyViolation, upstreamError } from './api-error.ts';

/** Guardrail (as AEP's): destinations per sandbox. */
const MAX_DESTINATIONS_PER_SANDBOX = 100;
import type {
  AlertSilenceView,
  AlertView,
  AudienceView,
  AuditEventListView,
  Checked,
  DataUsagePoliciesView,
  DataflowView,
  DestinationView,
  MonitoringView,
  SegmentView,
  ServiceBackend,
  TokenView,
  VerifyResult,
} from './backend.ts';
import type {
  DeliveryOutlook,
  DomainRules,
  EnginePort,
  XConnectionPort,
  XCredentialsInput,
} from './ports.ts';
import { isPermission } from './permissions.ts';
import { describeOutboundProxy, redactProxyUrl, type OutboundProxy } from '../net/outbound-proxy.ts';

const DAY_MS = 86_400_000;
/** How far back the monitoring overview looks for the last profiles a dataflow received. */
const LAST_PROFILES_LOOKBACK_MS = 31 * DAY_MS;
/** An alert as the API shows it. */
function alertView(a: ListedAlert): AlertView {
  const { alert } = a;
  return {
    alertId: alert.alertId,
    status: a.resolvedAt === null ? 'firing' : 'resolved',
    // Run notifications are sent, never kept as alerts: a listed alert is of an alert type (or a test).
    type: alert.type as AlertView['type'],
    severity: alert.severity as AlertView['severity'],
    dataflowId: alert.dataflowId,
    dataflowName: alert.dataflowName,
    destinationId: alert.destinationId,
    message: alert.message,
    firedAt: alert.firedAt,
    resolvedAt: a.resolvedAt,
    notified: a.notified,
    acknowledgedAt: a.acknowledgedAt,
    acknowledgedBy: a.acknowledgedBy,
    details: alert.details,
  };
}

/** The monitoring windows that end now, in ms. */
const RANGE_MS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const dayOf = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 10));
const fromDay = (day: string) => Date.parse(`${day}T00:00:00.000Z`);
const problems = (p: ErrorDetail[]): { ok: false; problems: ErrorDetail[] } => ({ ok: false, problems: p });

export interface StoreBackendOptions {
  store: Store;
  engine: EnginePort;
  x: XConnectionPort;
  rules: DomainRules;
  /** API base URL for destinations created without one. */
  defaultXApiBaseUrl: string;
  /** The X app "Log in with X" uses when the request names none (TCA_X_CONSUMER_KEY/SECRET, or the demo app). */
  defaultXApp?: { consumerKey: string; consumerSecret: string } | undefined;
  now?: () => number;
  /** The audit feed returns events this old or older (default 2 s): an insert still landing is never passed over. */
  auditFeedDelayMs?: number;
  /** Where workers push the audit trail (TCA_AUDIT_FORWARD_URL), when they do. */
  auditForward?: { url: string; format: 'ndjson' | 'splunk' } | undefined;
  /** The proxy outbound requests go through, reported to administrators. */
  outboundProxy?: OutboundProxy | undefined;
  /** Signs alert notifications (TCA_ALERT_WEBHOOK_SECRET), test ones included. */
  alertWebhookSecret?: string | undefined;
  /** The webhook every alert goes to (TCA_ALERT_WEBHOOK_URL), when set. */
  alertWebhookUrl?: string | undefined;
  /** What it takes (TCA_ALERT_WEBHOOK_FORMAT, default json). */
  alertWebhookFormat?: WebhookFormat | undefined;
  /** PagerDuty's Events API and routing key every alert goes to, when set (the key is only shown to PagerDuty). */
  alertPagerDuty?: { routingKey: string } | undefined;
  /** Where PagerDuty events go, for the installation's key and destinations' own (default PagerDuty's). */
  alertPagerDutyUrl?: string | undefined;
  /** Alert emails (recipients, sender, SMTP server), when set up. */
  alertEmail?: AlertEmail | undefined;
  /** Origins a URL import may read (TCA_IMPORT_URL_ALLOW); none: URL imports are refused. */
  importUrlAllow?: readonly AllowedOrigin[];
  /** How alert webhooks are called (tests: a loopback receiver's); default `fetch`. */
  alertFetch?: typeof globalThis.fetch;
}

/** The API's operations over the store (objects) and the engine (ingest, delivery, runs). */
export function createStoreBackend(options: StoreBackendOptions): ServiceBackend {
  const { store, engine, x, rules } = options;
  const now = options.now ?? Date.now;
  const auditFeedDelayMs = options.auditFeedDelayMs ?? 2000;
  const sandboxNames = new Map<string, string>();

  const sandboxName = async (sandboxId: string): Promise<string> => {
    const cached = sandboxNames.get(sandboxId);
    if (cached !== undefined) return cached;
    const s = await store.sandboxes.get(sandboxId);
    const name = s?.name ?? sandboxId;
    sandboxNames.set(sandboxId, name);
    return name;
  };

  type AuditEventView = AuditEventListView['items'][number];
  const auditEventView = async (e: AuditEvent): Promise<AuditEventView> => ({
    id: e.id,
    at: new Date(e.at).toISOString(),
    sandbox: await sandboxName(e.sandboxId),
    token: { id: e.tokenId, name: e.tokenName },
    method: e.method as AuditEventView['method'],
    route: e.route,
    action: e.action,
    target: e.target,
    status: e.status,
    fields: e.fields,
  });

  const tokenView = (t: ApiToken, sandbox: string): TokenView => ({
    id: t.id,
    name: t.name,
    sandbox,
    permissions: t.permissions.filter(isPermission),
    createdAt: new Date(t.createdAt).toISOString(),
    lastUsedAt: iso(t.lastUsedAt),
    revokedAt: iso(t.revokedAt),
  });

  const destinationView = async (d: Destination): Promise<DestinationView> => ({
    id: d.id,
    sandbox: await sandboxName(d.sandboxId),
    name: d.name,
    description: d.description ?? '',
    accountId: d.accountId,
    apiBaseUrl: d.apiBaseUrl ?? options.defaultXApiBaseUrl,
    marketingActions: d.marketingActions,
    alertWebhook: d.alertWebhookUrl
      ? { origin: new URL(d.alertWebhookUrl).origin, format: d.alertWebhookFormat }
      : null,
    alertEmailTo: d.alertEmailTo,
    hasAlertPagerDutyKey: d.hasAlertPagerDutyKey,
    // Only known types are written (the API's schema checks them).
    alertTypes: d.alertTypes as DestinationView['alertTypes'],
    status: d.status,
    statusReason: d.statusReason,
    hasCredentials: d.hasCredentials,
    createdAt: new Date(d.createdAt).toISOString(),
    updatedAt: new Date(d.updatedAt).toISOString(),
  });

  const segmentView = async (s: Segment): Promise<SegmentView> => ({
    id: s.id,
    sandbox: await sandboxName(s.sandboxId),
    namespace: s.namespace,
    name: s.name,
    description: s.description ?? '',
    labels: s.labels,
    createdAt: new Date(s.createdAt).toISOString(),
  });

  const dataflowView = async (d: Dataflow, audiences: Audience[]): Promise<DataflowView> => ({
    id: d.id,
    sandbox: await sandboxName(d.sandboxId),
    name: d.name,
    destinationId: d.destinationId,
    status: d.status,
    statusReason: d.statusReason,
    mapping: d.mapping.map((m) => ({ ...m, target: m.target as DataflowView['mapping'][number]['target'] })),
    audiences: audiences.filter(isActivated).map((a) => ({
      segmentId: a.segmentId,
      mappingName: a.mappingName,
      startDate: dayOf(a.startDate),
      endDate: dayOf(a.endDate),
      existingXAudienceId: a.existingXAudienceId,
      xAudienceId: a.xAudienceId,
      ttlDays: a.ttlDays,
      removeMembersAtEnd: a.removeMembersAtEnd,
    })),
    maxBatchAgeSeconds: d.maxBatchAgeSeconds,
    noDataAlertHours: d.noDataAlertHours,
    onAudienceRemoval: d.onAudienceRemoval,
    createdAt: new Date(d.createdAt).toISOString(),
    updatedAt: new Date(d.updatedAt).toISOString(),
  });

  const liveDataflow = async (sandboxId: string, id: string) => {
    const d = await store.dataflows.get(sandboxId, id);
    return d && d.status !== 'deleted' ? d : undefined;
  };

  const nameProblems = (
    value: string | undefined | null,
    field: 'name' | 'description' | 'mappingName',
    path: string,
    label?: string,
  ) => {
    if (value === undefined || value === null || value === '') return [];
    const r = rules.checkName(value, field, label);
    return r.ok ? [] : [{ path, reason: r.reason }];
  };

  /** The problem of a dataflow's or segment's name (never sent to X) at `path`; none when the request leaves it out. */
  const displayNameProblems = (value: string | undefined, path: string, label: string): ErrorDetail[] => {
    if (value === undefined) return [];
    const r = rules.checkDisplayName(value, label);
    return r.ok ? [] : [{ path, reason: r.reason }];
  };

  type MappingRowInput = { sourceType: string; source: string; target: string; applyTransformation: boolean };
  type AudienceInput = {
    segmentId: string;
    mappingName?: string | undefined;
    startDate?: string | undefined;
    endDate?: string | null | undefined;
    existingXAudienceId?: string | null | undefined;
    ttlDays?: number | null | undefined;
    removeMembersAtEnd?: boolean | undefined;
  };

  /** Every domain problem of a dataflow's mapping and audiences, at once. */
  const checkDataflow = async (
    sandboxId: string,
    input: {
      destinationId?: string | undefined;
      mapping?: readonly unknown[] | undefined;
      audiences?: readonly AudienceInput[] | undefined;
    },
    /**
     * The settings stored for each segment the dataflow activates now: a PATCH that leaves one out keeps it, so the
     * checks read what the audience will have.
     */
    storedAudiences: ReadonlyMap<
      string,
      Pick<Audience, 'mappingName' | 'startDate' | 'endDate' | 'removeMembersAtEnd'>
    > = new Map(),
  ): Promise<{ problems: ErrorDetail[]; segments: Map<string, Segment> }> => {
    const out: ErrorDetail[] = [];
    if (
      input.destinationId !== undefined &&
      !(await store.destinations.get(sandboxId, input.destinationId))
    ) {
      out.push({ path: 'destinationId', reason: `no destination "${input.destinationId}" in this sandbox` });
    }
    if (input.mapping) {
      for (const p of rules.checkMapping(input.mapping))
        out.push({ path: `mapping${p.path}`, reason: p.reason });
    }
    const segments = new Map<string, Segment>();
    if (input.audiences) {
      const ids = [...new Set(input.audiences.map((a) => a.segmentId))];
      for (const s of await store.segments.list(sandboxId, { ids })) segments.set(s.id, s);
      const seen = new Set<string>();
      input.audiences.forEach((a, i) => {
        const seg = segments.get(a.segmentId);
        if (seen.has(a.segmentId))
          out.push({ path: `audiences[${i}].segmentId`, reason: `segment "${a.segmentId}" is listed twice` });
        seen.add(a.segmentId);
        if (!seg) {
          out.push({
            path: `audiences[${i}].segmentId`,
            reason: `no segment "${a.segmentId}" in this sandbox; register it with POST /api/v1/segments`,
          });
        } else if (seg.namespace !== 'ups') {
          out.push({
            path: `audiences[${i}].segmentId`,
            reason: `segment "${a.segmentId}" comes from "${seg.namespace}"; X Custom Audiences accepts only Segmentation Service (ups) people audiences`,
          });
        }
        // What the audience will have: what the request says, else what is stored, else the default (audienceFields).
        const stored = storedAudiences.get(a.segmentId);
        const mappingName = a.mappingName ?? stored?.mappingName ?? seg?.name;
        out.push(...nameProblems(mappingName, 'mappingName', `audiences[${i}].mappingName`));
        const startDate = a.startDate ?? dayOf(stored?.startDate ?? Math.floor(now() / DAY_MS) * DAY_MS);
        const endDate =
          a.endDate !== undefined ? a.endDate : stored?.endDate == null ? null : dayOf(stored.endDate);
        if (endDate !== null && startDate !== null && endDate < startDate) {
          out.push(
            a.endDate === undefined
              ? {
                  path: `audiences[${i}].startDate`,
                  reason: `must not be after endDate (${endDate}, as stored): send an earlier startDate, or a later endDate with it`,
                }
              : {
                  path: `audiences[${i}].endDate`,
                  reason:
                    a.startDate !== undefined
                      ? 'must not be before startDate'
                      : `must not be before startDate (${startDate}, ${stored === undefined ? 'today, the default' : 'as stored'}): send a later endDate, or an earlier startDate with it`,
                },
          );
        }
        if ((a.removeMembersAtEnd ?? stored?.removeMembersAtEnd) === true && endDate === null) {
          out.push(
            a.removeMembersAtEnd === true
              ? {
                  path: `audiences[${i}].removeMembersAtEnd`,
                  reason: 'needs an endDate: members are removed when the end date passes',
                }
              : {
                  path: `audiences[${i}].endDate`,
                  reason:
                    'cannot be cleared while removeMembersAtEnd is on (as stored): send removeMembersAtEnd: false with it',
                },
          );
        }
      });
    }
    return { problems: out, segments };
  };

  /** Where a violation happens, for its reason: the dataflow and its destination (and `more`, a mapping row, say). */
  const inDataflow = (
    dataflowName: string,
    destination: Destination | undefined,
    destinationId: string,
    more?: string,
  ) =>
    `(dataflow "${dataflowName}" to destination "${destination?.name ?? destinationId}"${more === undefined ? '' : `, ${more}`})`;

  /**
   * The policy violations of a dataflow named `dataflowName` activating `audiences` (their segments, found by
   * `checkDataflow`) to a destination and exporting what `mapping` maps (when given): each at its place in the
   * request (`audiences[i].segmentId`, `mapping[i].source`), naming the dataflow and destination. A request is
   * refused once, with all of them.
   */
  const dataflowViolationDetails = async (
    sandboxId: string,
    dataflowName: string,
    destinationId: string,
    audiences: readonly AudienceInput[] | undefined,
    segments: ReadonlyMap<string, Segment>,
    mapping: ReadonlyArray<{ sourceType: string; source: string }> | undefined,
  ): Promise<ErrorDetail[]> => {
    const destination = await store.destinations.get(sandboxId, destinationId);
    const actions = destination?.marketingActions ?? [];
    const custom = await customPolicies(sandboxId);
    const where = inDataflow(dataflowName, destination, destinationId);
    const details: ErrorDetail[] = [];
    if (audiences !== undefined) {
      const index = new Map(audiences.map((a, i) => [a.segmentId, i]));
      for (const v of rules.policyViolations(
        actions,
        audiences.map((a) => segments.get(a.segmentId)!),
        custom,
      ))
        details.push({
          path: `audiences[${index.get(v.segmentId)}].segmentId`,
          reason: `${v.reason} ${where}`,
        });
    }
    if (mapping !== undefined)
      for (const v of rules.mappingPolicyViolations(actions, mapping, await fieldLabels(sandboxId), custom))
        details.push({ path: `mapping[${v.index}].source`, reason: `${v.reason} ${where}` });
    return details;
  };

  /** A destination's marketing actions as stored, or their problems at `marketingActions[i]`. */
  const checkActions = (actions: readonly string[]) => {
    const checked = rules.checkMarketingActions(actions);
    return {
      actions: checked.actions,
      problems: checked.problems.map((p) => ({ path: `marketingActions${p.path}`, reason: p.reason })),
    };
  };

  /** A segment's labels as stored, or their problems at `labels[i]`. */
  const checkLabels = (labels: readonly string[]) => {
    const checked = rules.checkLabels(labels);
    return {
      labels: checked.labels,
      problems: checked.problems.map((p) => ({ path: `labels${p.path}`, reason: p.reason })),
    };
  };

  /** The live activations of the sandbox: each live audience with its dataflow and the dataflow's destination. */
  const liveActivations = async (sandboxId: string) => {
    const flows = new Map(
      (await store.dataflows.list(sandboxId)).filter((d) => d.status !== 'deleted').map((d) => [d.id, d]),
    );
    return (await store.audiences.list(sandboxId))
      .filter((a) => isActivated(a) && flows.has(a.dataflowId))
      .map((a) => ({
        segmentId: a.segmentId,
        dataflow: flows.get(a.dataflowId)!,
        destinationId: flows.get(a.dataflowId)!.destinationId,
      }));
  };

  /**
   * The segment violations of the sandbox's live activations under the policies `custom` (and the core ones), as
   * details at `path`: one per (dataflow, segment, label, action), each naming its dataflow and destination. `only`
   * narrows them to one segment, with the labels it would have, or to one destination, as if used for
   * `marketingActions`.
   */
  const activationViolationDetails = async (
    sandboxId: string,
    path: string,
    custom: readonly CustomPolicy[],
    only: { segment?: Segment; destinationId?: string; marketingActions?: readonly string[] } = {},
  ): Promise<ErrorDetail[]> => {
    const activations = (await liveActivations(sandboxId)).filter(
      (a) =>
        (only.segment === undefined || a.segmentId === only.segment.id) &&
        (only.destinationId === undefined || a.destinationId === only.destinationId),
    );
    const segments = new Map(
      (await store.segments.list(sandboxId, { ids: [...new Set(activations.map((a) => a.segmentId))] })).map(
        (s) => [s.id, s],
      ),
    );
    if (only.segment !== undefined) segments.set(only.segment.id, only.segment);
    const flows = new Map<string, { dataflow: Dataflow; segments: Segment[] }>();
    for (const a of activations) {
      const segment = segments.get(a.segmentId);
      if (segment === undefined) continue;
      const flow = flows.get(a.dataflow.id) ?? { dataflow: a.dataflow, segments: [] };
      flow.segments.push(segment);
      flows.set(a.dataflow.id, flow);
    }
    const destinations = new Map((await store.destinations.list(sandboxId)).map((d) => [d.id, d]));
    const details: ErrorDetail[] = [];
    for (const { dataflow, segments: activated } of flows.values()) {
      const destination = destinations.get(dataflow.destinationId);
      const actions = only.marketingActions ?? destination?.marketingActions ?? [];
      const where = inDataflow(dataflow.name, destination, dataflow.destinationId);
      for (const v of rules.policyViolations(actions, activated, custom))
        details.push({ path, reason: `${v.reason} ${where}` });
    }
    return details;
  };

  /** The sandbox's own data-usage policies, next to the core ones. */
  const customPolicies = async (sandboxId: string): Promise<CustomPolicy[]> =>
    JSON.parse((await store.sandboxes.dataUsagePolicies(sandboxId)) ?? '[]') as CustomPolicy[];

  /** The sandbox's labelled fields. */
  /** Whether a consent policy of the sandbox applies through data-usage labels. */
  const consentOnLabels = async (sandboxId: string): Promise<boolean> =>
    (await engine.consentPolicies(sandboxId)).policies.some((p) => p.labels.length > 0);
  const fieldLabels = async (sandboxId: string): Promise<FieldLabel[]> =>
    JSON.parse((await store.sandboxes.fieldLabels(sandboxId)) ?? '[]') as FieldLabel[];

  /** The mapping violations of the sandbox's live dataflows of a destination, under the given policies and labels. */
  const mappingViolations = async (
    sandboxId: string,
    under: { fields: readonly FieldLabel[]; custom: readonly CustomPolicy[] },
    /** Only this destination's dataflows, as if used for these marketing actions. */
    only?: { destinationId: string; marketingActions: readonly string[] },
  ): Promise<Array<{ dataflow: Dataflow; destination: Destination; index: number; reason: string }>> => {
    const dataflows = (await store.dataflows.list(sandboxId)).filter((d) => d.status !== 'deleted');
    return (await store.destinations.list(sandboxId))
      .filter((destination) => only === undefined || destination.id === only.destinationId)
      .flatMap((destination) =>
        dataflows
          .filter((d) => d.destinationId === destination.id)
          .flatMap((dataflow) =>
            rules
              .mappingPolicyViolations(
                only?.marketingActions ?? destination.marketingActions,
                dataflow.mapping,
                under.fields,
                under.custom,
              )
              .map((v) => ({ dataflow, destination, ...v })),
          ),
      );
  };

  /** The mapping violations of every live dataflow of the sandbox, as details at `path` naming each dataflow. */
  const mappingViolationDetails = async (
    sandboxId: string,
    path: string,
    under: { fields: readonly FieldLabel[]; custom: readonly CustomPolicy[] },
  ): Promise<ErrorDetail[]> =>
    (await mappingViolations(sandboxId, under)).map((v) => ({
      path,
      reason: `${v.reason} ${inDataflow(v.dataflow.name, v.destination, v.destination.id)}`,
    }));

  const policiesView = (custom: CustomPolicy[]): DataUsagePoliciesView => ({
    core: POLICIES.map((p) => ({ name: p.name, action: p.action, labels: [...p.labels] })),
    custom: custom.map((p) => ({ ...p, labels: [...p.labels] })),
  });

  const audienceFields = (a: AudienceInput, seg: Segment | undefined) => ({
    // Stored as checked, trimmed: the name X gets (a segment name stored before names were trimmed is trimmed here).
    mappingName: (a.mappingName ?? seg?.name ?? a.segmentId).trim(),
    startDate: a.startDate === undefined ? Math.floor(now() / DAY_MS) * DAY_MS : fromDay(a.startDate),
    endDate: a.endDate === undefined || a.endDate === null ? null : fromDay(a.endDate),
    existingXAudienceId: a.existingXAudienceId ?? null,
    ttlDays: a.ttlDays ?? null,
    removeMembersAtEnd: a.removeMembersAtEnd ?? false,
  });

  /** Whether every setting a dataflow PATCH sends holds the value stored: then it would change nothing. */
  const dataflowPatchIsNoop = (
    current: Dataflow,
    patch: {
      name?: string | undefined;
      mapping?: readonly MappingRowInput[] | undefined;
      audiences?: readonly AudienceInput[] | undefined;
      maxBatchAgeSeconds?: number | undefined;
      noDataAlertHours?: number | null | undefined;
      onAudienceRemoval?: string | undefined;
      status?: string | undefined;
    },
    /** The audiences it activates now, by segment. */
    live: ReadonlyMap<string, Audience>,
    segments: ReadonlyMap<string, Segment>,
  ): boolean => {
    const rowText = (rows: readonly MappingRowInput[]) =>
      JSON.stringify(rows.map((r) => [r.sourceType, r.source, r.target, r.applyTransformation]));
    if (patch.name !== undefined && patch.name.trim() !== current.name) return false;
    if (patch.mapping !== undefined && rowText(patch.mapping) !== rowText(current.mapping)) return false;
    if (patch.maxBatchAgeSeconds !== undefined && patch.maxBatchAgeSeconds !== current.maxBatchAgeSeconds)
      return false;
    if (patch.noDataAlertHours !== undefined && patch.noDataAlertHours !== current.noDataAlertHours)
      return false;
    if (patch.onAudienceRemoval !== undefined && patch.onAudienceRemoval !== current.onAudienceRemoval)
      return false;
    if (
      patch.status !== undefined &&
      (patch.status !== current.status ||
        current.statusReason !== (patch.status === 'paused' ? 'paused by a user' : null))
    )
      return false;
    if (patch.audiences === undefined) return true;
    // The same segments (each listed once: checked before), each with the settings it sends as stored.
    if (patch.audiences.length !== live.size) return false;
    return patch.audiences.every((w) => {
      const a = live.get(w.segmentId);
      if (!a) return false;
      const f = audienceFields(w, segments.get(w.segmentId));
      return (
        (w.mappingName === undefined || f.mappingName === a.mappingName) &&
        (w.startDate === undefined || f.startDate === a.startDate) &&
        (w.endDate === undefined || f.endDate === a.endDate) &&
        (w.ttlDays === undefined || f.ttlDays === a.ttlDays) &&
        (w.removeMembersAtEnd === undefined || f.removeMembersAtEnd === a.removeMembersAtEnd)
      );
    });
  };

  const silenceView = (silence: AlertSilence): AlertSilenceView => {
    const at = now();
    return {
      id: silence.id,
      dataflowId: silence.dataflowId,
      type: silence.type as AlertSilenceView['type'],
      startsAt: new Date(silence.startsAt).toISOString(),
      endsAt: new Date(silence.endsAt).toISOString(),
      state: silence.endsAt <= at ? 'ended' : silence.startsAt > at ? 'pending' : 'active',
      comment: silence.comment,
      createdBy: silence.createdBy,
      createdAt: new Date(silence.createdAt).toISOString(),
    };
  };

  /** Sends a test notification to an alert webhook: a destination's, or the installation's (null). */
  // Where PagerDuty events go: the installation's key and destinations' own alike.
  const pagerDutyUrl = options.alertPagerDutyUrl ?? PAGERDUTY_EVENTS_URL;

  const testWebhook = async (
    sandboxId: string,
    url: string,
    destination: { id: string; name: string } | null,
    format: WebhookFormat,
  ) => {
    const sent = await sendTestAlert({
      url,
      format,
      id: store.newId('alr'),
      sandbox: await sandboxName(sandboxId),
      destination,
      secret: options.alertWebhookSecret,
      ...(options.alertFetch ? { fetch: options.alertFetch } : {}),
      now: now(),
    });
    return { ...sent, notification: { ...sent.notification } };
  };

  /** Emails a test alert (of a destination, or the installation's with `destinationId` '') to `to`. */
  const sendTestEmail = async (
    email: AlertEmail,
    sandboxId: string,
    to: readonly string[],
    message: string,
    destinationId: string,
  ) => {
    const id = store.newId('alr');
    const mailer = createMailer(email);
    try {
      const alert = testAlert({
        id,
        sandbox: await sandboxName(sandboxId),
        destinationId,
        message,
        now: now(),
      });
      const error = await mailer.send(alert, to.join(','));
      return { to: [...to], delivered: error === null, error };
    } finally {
      mailer.close();
    }
  };

  /** A test incident with `routingKey`, triggered and resolved at once: whether PagerDuty accepted it. */
  const sendTestIncident = async (sandboxId: string, routingKey: string) =>
    sendPagerDutyTest({
      routingKey,
      url: pagerDutyUrl,
      id: store.newId('alr'),
      sandbox: await sandboxName(sandboxId),
      ...(options.alertFetch ? { fetch: options.alertFetch } : {}),
      now: now(),
    });

  /** A destination's alert recipients as stored: each once, in the order given. */
  const alertEmailTo = (to: readonly string[] | undefined): string[] => [...new Set(to ?? [])];
  // Each type once, in the order alerts are listed; null (every alert type) as given.
  const alertTypes = (types: readonly string[] | null | undefined): string[] | null =>
    types === null || types === undefined ? null : SUBSCRIBABLE_TYPES.filter((t) => types.includes(t));
  const alertEmailProblems = (to: readonly string[] | undefined): ErrorDetail[] =>
    to !== undefined && to.length > 0 && !options.alertEmail
      ? [
          {
            path: 'alertEmailTo',
            reason:
              'this service sends no alert email: set TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL on it first, then the recipients',
          },
        ]
      : [];

  /** Why an import cannot start whatever its bytes: mirror mode without a known segment. */
  const importProblems = async (
    sandboxId: string,
    input: { mode: 'incremental' | 'mirror'; segmentId?: string | undefined },
  ): Promise<ErrorDetail[]> => {
    if (input.mode !== 'mirror') return [];
    if (input.segmentId === undefined)
      return [{ path: 'segmentId', reason: 'required in mirror mode: the segment the file holds' }];
    if (!(await store.segments.get(sandboxId, input.segmentId)))
      return [{ path: 'segmentId', reason: `no segment ${input.segmentId} in this sandbox` }];
    return [];
  };

  const storedCredentials = async (sandboxId: string, id: string) => {
    const creds = await store.destinations.getCredentials(sandboxId, id);
    return creds && creds.accessToken !== undefined && creds.accessTokenSecret !== undefined
      ? {
          consumerKey: creds.consumerKey,
          consumerSecret: creds.consumerSecret,
          accessToken: creds.accessToken,
          accessTokenSecret: creds.accessTokenSecret,
        }
      : undefined;
  };

  /**
   * The dataflows the engine paused on a 401/403 of `d` (as it was when its checks ran) resume now that it passed
   * them, before the request answers: an immediate read finds them active and a flush delivers. The worker's own pass
   * stays for what no request saw (a destination changed by another process).
   */
  const resumePaused = async (sandboxId: string, d: Destination) => ({
    resumedDataflowIds: await engine.resumeCheckedDestination(sandboxId, d.id, d.updatedAt),
  });

  /**
   * The preflight of a destination's stored connection, its outcome stored as the status by what X answered, not by
   * which check failed: credentials missing or refused (401) make it `unauthorized`; anything else X refused (403, an
   * account not fit) `error`. When X could not be reached (network, timeout, 5xx, 429) nothing was learnt about the
   * connection: the status stays as it was, and the failed checks say that X could not be reached.
   */
  const verifyDestination = async (sandboxId: string, d: Destination): Promise<VerifyResult> => {
    const { failure, ...result } = await x.verify({
      apiBaseUrl: d.apiBaseUrl ?? options.defaultXApiBaseUrl,
      accountId: d.accountId,
      credentials: await storedCredentials(sandboxId, d.id),
    });
    const failed = result.checks.find((c) => c.status === 'fail');
    if (result.ok || failure !== 'unreachable')
      await store.destinations.update(sandboxId, d.id, {
        status: result.ok ? 'active' : failure === 'credentials' ? 'unauthorized' : 'error',
        statusReason: result.ok ? null : (failed?.message ?? 'preflight failed'),
      });
    return result.ok ? { ...result, ...(await resumePaused(sandboxId, d)) } : result;
  };

  /**
   * A connection just saved unchecked (nothing worked before it): the preflight runs now, so the view returned says what
   * X made of it. A preflight that throws leaves the status `unverified`; `POST …/verify` runs it again.
   */
  const verifySaved = async (sandboxId: string, d: Destination) => {
    try {
      await verifyDestination(sandboxId, d);
    } catch {
      // The connection is saved either way.
    }
    const after = await store.destinations.get(sandboxId, d.id);
    return after && { ok: true as const, value: await destinationView(after) };
  };

  /**
   * Refuses (409 account_in_use) moving a destination to another ads account while activated audiences have their X
   * audience in the current one: the next delivery would address those audience ids in the new account, which X
   * refuses (403), pausing the dataflows.
   */
  const assertAccountFree = async (sandboxId: string, d: Destination, accountId: string | undefined) => {
    if (accountId === undefined || accountId === d.accountId) return;
    const details: ErrorDetail[] = [];
    const flows = (await store.dataflows.list(sandboxId, { destinationId: d.id })).filter(
      (f) => f.status !== 'deleted',
    );
    for (const f of flows) {
      for (const a of await store.audiences.list(sandboxId, { dataflowId: f.id })) {
        if (!isActivated(a) || a.xAudienceId === null) continue;
        details.push({
          path: 'accountId',
          reason: `dataflow ${f.id} ("${f.name}"), segment ${a.segmentId}: X audience ${a.xAudienceId} ("${a.mappingName}") is in account ${d.accountId}`,
        });
      }
    }
    if (details.length > 0) throw accountInUse({ from: d.accountId, to: accountId, details });
  };

  /** The preflight on a candidate connection; it replaces the stored one only when every check passes. */
  const verifyCandidate = async (
    sandboxId: string,
    d: Destination,
    candidate: { accountId?: string; apiBaseUrl?: string; credentials?: XCredentialsInput },
    /** Other changes of the destination, saved with the connection in one transaction when it passes. */
    also: UpdateDestinationInput = {},
  ): Promise<VerifyResult> => {
    await assertAccountFree(sandboxId, d, candidate.accountId);
    const accountId = candidate.accountId ?? d.accountId;
    const apiBaseUrl = candidate.apiBaseUrl ?? d.apiBaseUrl;
    const { failure: _failure, ...result } = await x.verify({
      apiBaseUrl: apiBaseUrl ?? options.defaultXApiBaseUrl,
      accountId,
      credentials: candidate.credentials ?? (await storedCredentials(sandboxId, d.id)),
    });
    // A failed candidate changes nothing: the stored connection (and the status it earned) stays.
    if (!result.ok) return { ...result, saved: false };
    await store.transaction(async (tx) => {
      if (candidate.credentials !== undefined)
        await tx.destinations.setCredentials(sandboxId, d.id, candidate.credentials);
      await tx.destinations.update(sandboxId, d.id, {
        ...also,
        ...(candidate.accountId !== undefined ? { accountId } : {}),
        ...(candidate.apiBaseUrl !== undefined ? { apiBaseUrl: candidate.apiBaseUrl } : {}),
        status: 'active',
        statusReason: null,
      });
    });
    return { ...result, saved: true, ...(await resumePaused(sandboxId, d)) };
  };

  return {
    async settings({ audit = false } = {}) {
      const xLogin = { defaultApp: options.defaultXApp !== undefined };
      const importUrls = { origins: describeAllowList(options.importUrlAllow ?? []) };
      if (!audit) return { xLogin, importUrls };
      const outboundProxy = options.outboundProxy ? describeOutboundProxy(options.outboundProxy) : null;
      const alertWebhook = options.alertWebhookUrl
        ? {
            origin: new URL(options.alertWebhookUrl).origin,
            signed: Boolean(options.alertWebhookSecret),
            format: options.alertWebhookFormat ?? 'json',
          }
        : null;
      const alertPagerDuty = options.alertPagerDuty ? { events: new URL(pagerDutyUrl).origin } : null;
      const alertEmail = options.alertEmail
        ? {
            to: options.alertEmail.to,
            smtp: smtpOrigin(options.alertEmail.smtpUrl),
            proxy: options.alertEmail.proxy ? redactProxyUrl(options.alertEmail.proxy) : null,
          }
        : null;
      const forward = options.auditForward;
      if (forward === undefined)
        return {
          xLogin,
          importUrls,
          auditForward: null,
          outboundProxy,
          alertWebhook,
          alertPagerDuty,
          alertEmail,
        };
      const cursor = decodeAuditCursor((await forwardedCursor(store)) ?? undefined) || undefined;
      const url = new URL(forward.url);
      return {
        xLogin,
        importUrls,
        auditForward: {
          collector: `${url.origin}${url.pathname}`,
          format: forward.format,
          forwardedThrough: cursor ? new Date(cursor.at).toISOString() : null,
          waiting: await store.auditEvents.countAfter(cursor),
        },
        outboundProxy,
        alertWebhook,
        alertPagerDuty,
        alertEmail,
      };
    },

    async readiness() {
      const checks: Record<string, { ok: boolean; message: string }> = {};
      try {
        await store.ping();
        checks['store'] = { ok: true, message: `${store.capabilities.dialect} reachable` };
      } catch (e) {
        checks['store'] = { ok: false, message: (e as Error).message };
        return { ok: false, checks };
      }
      const m = await store.migrationStatus();
      checks['migrations'] =
        m.pending.length === 0
          ? { ok: true, message: `${m.applied.length} applied` }
          : { ok: false, message: `pending: ${m.pending.join(', ')}` };
      // Another process may have rotated the key since this one opened: this one can no longer read credentials.
      const recorded = await recordedKeyId(store.db);
      const held = store.secrets.keyId;
      checks['secret_key'] =
        recorded === null || recorded === held
          ? { ok: true, message: `key ${held}` }
          : {
              ok: false,
              message: `the database is now on secret key ${recorded} (rotated by another process), this process holds ${held}: restart it with TCA_SECRET_KEY set to the new key`,
            };
      return { ok: Object.values(checks).every((c) => c.ok), checks };
    },

    audit: {
      async record(event) {
        await store.auditEvents.record(event);
      },
      async list(sandboxId, query) {
        const after = decodeAuditCursor(query.cursor);
        if (after === false) return problems([{ path: 'cursor', reason: 'not a cursor this API gave' }]);
        // One more than asked tells whether another page follows.
        const events = await store.auditEvents.list(sandboxId, {
          limit: query.limit + 1,
          after,
          target: query.target,
        });
        const page = events.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          ok: true,
          value: {
            items: await Promise.all(page.map(auditEventView)),
            nextCursor: events.length > query.limit && last ? encodeAuditCursor(last) : null,
          },
        };
      },
      async feed(sandboxId, query) {
        const after = decodeAuditCursor(query.after);
        if (after === false) return problems([{ path: 'after', reason: 'not a cursor this API gave' }]);
        const events = await store.auditEvents.feed(sandboxId, {
          limit: query.limit,
          after,
          before: now() - auditFeedDelayMs,
        });
        const last = events[events.length - 1];
        return {
          ok: true,
          value: {
            items: await Promise.all(events.map(auditEventView)),
            cursor: last ? encodeAuditCursor(last) : (query.after ?? null),
          },
        };
      },
    },

    tokens: {
      async authenticate(token) {
        const t = await store.apiTokens.authenticate(token);
        if (!t) return undefined;
        return {
          id: t.id,
          name: t.name,
          sandboxId: t.sandboxId,
          sandbox: await sandboxName(t.sandboxId),
          permissions: t.permissions.filter(isPermission),
          revoked: t.revokedAt !== null,
        };
      },
      touch: (id) => store.apiTokens.touch(id),
      async list(sandboxId) {
        const name = await sandboxName(sandboxId);
        return (await store.apiTokens.list(sandboxId)).map((t) => tokenView(t, name));
      },
      async create(input) {
        const { token, apiToken } = await store.apiTokens.create(input);
        return { token, view: tokenView(apiToken, await sandboxName(input.sandboxId)) };
      },
      revoke: (sandboxId, id) => store.apiTokens.revoke(sandboxId, id),
    },

    sandboxes: {
      async list() {
        return (await store.sandboxes.list()).map((s) => ({
          id: s.id,
          name: s.name,
          createdAt: new Date(s.createdAt).toISOString(),
        }));
      },
      async get(name) {
        const s = await store.sandboxes.getByName(name);
        return s && { id: s.id, name: s.name, createdAt: new Date(s.createdAt).toISOString() };
      },
      async create(name) {
        const s = await store.sandboxes.create({ name });
        return { id: s.id, name: s.name, createdAt: new Date(s.createdAt).toISOString() };
      },
    },

    destinations: {
      async list(sandboxId) {
        return Promise.all((await store.destinations.list(sandboxId)).map(destinationView));
      },
      async get(sandboxId, id) {
        const d = await store.destinations.get(sandboxId, id);
        return d && destinationView(d);
      },
      async create(sandboxId, input): Promise<Checked<DestinationView>> {
        const p = [
          ...nameProblems(input.name, 'name', 'name', 'destination name'),
          ...nameProblems(input.description, 'description', 'description', 'destination description'),
        ];
        if ((await store.destinations.list(sandboxId)).length >= MAX_DESTINATIONS_PER_SANDBOX) {
          p.push({
            path: 'name',
            reason: `a sandbox holds at most ${MAX_DESTINATIONS_PER_SANDBOX} destinations; delete unused ones or use another sandbox`,
          });
        }
        p.push(...alertEmailProblems(input.alertEmailTo));
        const actions = checkActions(input.marketingActions ?? []);
        p.push(...actions.problems);
        if (p.length > 0) return problems(p);
        const d = await store.destinations.create({
          sandboxId,
          // Names are stored trimmed, as they were checked.
          name: input.name.trim(),
          description: input.description ?? null,
          accountId: input.accountId,
          credentials: input.credentials ?? null,
          apiBaseUrl: input.apiBaseUrl ?? options.defaultXApiBaseUrl,
          marketingActions: actions.actions,
          alertWebhookUrl: input.alertWebhookUrl ?? null,
          ...(input.alertWebhookFormat !== undefined ? { alertWebhookFormat: input.alertWebhookFormat } : {}),
          alertEmailTo: alertEmailTo(input.alertEmailTo),
          alertPagerDutyKey: input.alertPagerDutyRoutingKey ?? null,
          alertTypes: alertTypes(input.alertTypes),
        });
        return { ok: true, value: await destinationView(d) };
      },
      async update(sandboxId, id, patchIn) {
        const current = await store.destinations.get(sandboxId, id);
        if (!current) return undefined;
        const actions =
          patchIn.marketingActions === undefined ? undefined : checkActions(patchIn.marketingActions);
        // Core actions in their core spelling from here on (stored so, and compared so with what is stored).
        const patch = actions === undefined ? patchIn : { ...patchIn, marketingActions: actions.actions };
        const p = [
          ...nameProblems(patch.name, 'name', 'name', 'destination name'),
          ...nameProblems(patch.description, 'description', 'description', 'destination description'),
          ...alertEmailProblems(patch.alertEmailTo),
          ...(actions?.problems ?? []),
        ];
        if (p.length > 0) return problems(p);
        await assertAccountFree(sandboxId, current, patch.accountId);
        if (patch.marketingActions !== undefined) {
          // New marketing actions may not be forbidden by the labels of segments already activated here, nor by the
          // labels of fields its dataflows export: refused once, with every violation.
          const custom = await customPolicies(sandboxId);
          const refused = await activationViolationDetails(sandboxId, 'marketingActions', custom, {
            destinationId: id,
            marketingActions: patch.marketingActions,
          });
          const exported = await mappingViolations(
            sandboxId,
            { fields: await fieldLabels(sandboxId), custom },
            { destinationId: id, marketingActions: patch.marketingActions },
          );
          for (const v of exported)
            refused.push({
              path: 'marketingActions',
              reason: `${v.reason} ${inDataflow(v.dataflow.name, v.destination, id, `mapping row ${v.index + 1}`)}`,
            });
          if (refused.length > 0) throw policyViolation(refused);
        }
        // A patch of what is stored already (`{}`, say) writes nothing: `updatedAt` stays, and no change is recorded.
        // Credentials sent are saved again and checked whatever they are, so they are always a change.
        const same = (sent: unknown, stored: unknown) => JSON.stringify(sent) === JSON.stringify(stored);
        const unchanged =
          patch.credentials === undefined &&
          (patch.name === undefined || patch.name.trim() === current.name) &&
          (patch.description === undefined || patch.description === (current.description ?? '')) &&
          (patch.accountId === undefined || patch.accountId === current.accountId) &&
          (patch.apiBaseUrl === undefined || patch.apiBaseUrl === current.apiBaseUrl) &&
          (patch.marketingActions === undefined || same(patch.marketingActions, current.marketingActions)) &&
          (patch.alertWebhookUrl === undefined || patch.alertWebhookUrl === current.alertWebhookUrl) &&
          (patch.alertWebhookFormat === undefined ||
            patch.alertWebhookFormat === current.alertWebhookFormat) &&
          (patch.alertEmailTo === undefined ||
            same(alertEmailTo(patch.alertEmailTo), current.alertEmailTo)) &&
          (patch.alertTypes === undefined || same(alertTypes(patch.alertTypes), current.alertTypes)) &&
          (patch.alertPagerDutyRoutingKey === undefined ||
            (patch.alertPagerDutyRoutingKey === null
              ? !current.hasAlertPagerDutyKey
              : (await store.destinations.getAlertPagerDutyKey(sandboxId, id)) ===
                patch.alertPagerDutyRoutingKey));
        if (unchanged) return { ok: true, unchanged: true, value: await destinationView(current) };
        const connection = {
          ...(patch.accountId !== undefined && patch.accountId !== current.accountId
            ? { accountId: patch.accountId }
            : {}),
          ...(patch.apiBaseUrl !== undefined && patch.apiBaseUrl !== current.apiBaseUrl
            ? { apiBaseUrl: patch.apiBaseUrl }
            : {}),
          ...(patch.credentials !== undefined ? { credentials: patch.credentials } : {}),
        };
        const changesConnection = Object.keys(connection).length > 0;
        // A connection that works is replaced only by one that passes the checks: a mistyped secret would otherwise
        // pause every dataflow at its next delivery. The checks save the new connection, with the rest, when they pass.
        const checkedFirst = changesConnection && current.status === 'active';
        const fields: UpdateDestinationInput = {
          ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.marketingActions !== undefined ? { marketingActions: patch.marketingActions } : {}),
          ...(patch.alertWebhookUrl !== undefined ? { alertWebhookUrl: patch.alertWebhookUrl } : {}),
          ...(patch.alertEmailTo !== undefined ? { alertEmailTo: alertEmailTo(patch.alertEmailTo) } : {}),
          ...(patch.alertWebhookFormat !== undefined ? { alertWebhookFormat: patch.alertWebhookFormat } : {}),
          ...(patch.alertPagerDutyRoutingKey !== undefined
            ? { alertPagerDutyKey: patch.alertPagerDutyRoutingKey }
            : {}),
          ...(patch.alertTypes !== undefined ? { alertTypes: alertTypes(patch.alertTypes) } : {}),
        };
        const saveUnchecked = changesConnection && !checkedFirst;
        let d: Destination | undefined;
        if (checkedFirst) {
          // The checks save the new connection and the other changes together, or nothing.
          const checked = await verifyCandidate(sandboxId, current, connection, fields);
          if (!checked.saved)
            throw connectionCheckFailed(checked.checks, connection.apiBaseUrl !== undefined);
          d = await store.destinations.get(sandboxId, id);
        } else {
          const { credentials, ...endpoint } = connection;
          d = await store.transaction(async (tx) => {
            if (saveUnchecked && credentials !== undefined)
              await tx.destinations.setCredentials(sandboxId, id, credentials);
            return tx.destinations.update(sandboxId, id, {
              ...fields,
              ...(saveUnchecked ? endpoint : {}),
              // A connection that did not work, changed: not checked until the preflight below runs.
              ...(saveUnchecked ? { status: 'unverified' as const, statusReason: null } : {}),
            });
          });
        }
        // Marketing actions decide which consent policies apply to the destination's audiences.
        if (d && patch.marketingActions !== undefined)
          await engine.reevaluate({ sandboxId, destinationId: id });
        if (!d) return undefined;
        // Dataflows paused on the old connection resume once the new one passes the checks, run here (saved unchecked)
        // or above (checked first); otherwise the worker checks it on its next pass.
        return saveUnchecked ? verifySaved(sandboxId, d) : { ok: true, value: await destinationView(d) };
      },
      async remove(sandboxId, id) {
        if (!(await store.destinations.get(sandboxId, id))) return undefined;
        const users = (await store.dataflows.list(sandboxId, { destinationId: id })).filter(
          (d) => d.status !== 'deleted',
        );
        if (users.length > 0) {
          return problems(
            users.map((d) => ({
              path: 'id',
              reason: `used by dataflow ${d.id} ("${d.name}"); delete it first`,
            })),
          );
        }
        await store.transaction(async (tx) => {
          for (const d of await tx.dataflows.list(sandboxId, { destinationId: id, includeDeleted: true }))
            await tx.dataflows.delete(sandboxId, d.id);
          await tx.destinations.delete(sandboxId, id);
        });
        return { ok: true, value: true };
      },
      async verify(sandboxId, id, candidate = {}) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        const { accountId, apiBaseUrl, credentials } = candidate;
        if (accountId === undefined && apiBaseUrl === undefined && credentials === undefined)
          return verifyDestination(sandboxId, d);
        return verifyCandidate(sandboxId, d, {
          ...(accountId !== undefined ? { accountId } : {}),
          ...(apiBaseUrl !== undefined ? { apiBaseUrl } : {}),
          ...(credentials !== undefined ? { credentials } : {}),
        });
      },
      async testEmail(sandboxId, id) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        const email = options.alertEmail;
        if (!email || d.alertEmailTo.length === 0)
          return problems([
            {
              path: 'alertEmailTo',
              reason: email
                ? 'the destination has no alert email recipients: set some (PATCH alertEmailTo) and test again'
                : 'the service sends no alert email: set TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL',
            },
          ]);
        const message = `Test alert email for destination "${d.name}": these recipients receive its alerts`;
        return {
          ok: true,
          value: await sendTestEmail(email, sandboxId, d.alertEmailTo, message, d.id),
        };
      },
      async testPagerDuty(sandboxId, id) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        const routingKey = await store.destinations.getAlertPagerDutyKey(sandboxId, id);
        if (routingKey === undefined)
          return problems([
            {
              path: 'alertPagerDutyRoutingKey',
              reason:
                'the destination has no PagerDuty routing key of its own: set one (PATCH alertPagerDutyRoutingKey) and test again',
            },
          ]);
        return { ok: true, value: await sendTestIncident(sandboxId, routingKey) };
      },
      async testAlert(sandboxId, id) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        if (!d.alertWebhookUrl)
          return problems([
            {
              path: 'alertWebhookUrl',
              reason: 'the destination has no alert webhook: set one (PATCH alertWebhookUrl) and test again',
            },
          ]);
        return {
          ok: true,
          value: await testWebhook(
            sandboxId,
            d.alertWebhookUrl,
            { id: d.id, name: d.name },
            d.alertWebhookFormat,
          ),
        };
      },
      async loginStart(sandboxId, id, input) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        const app = loginApp(input, options.defaultXApp);
        if (!app.ok) return app;
        const apiBaseUrl = d.apiBaseUrl ?? options.defaultXApiBaseUrl;
        let started;
        try {
          started = await x.loginStart({ apiBaseUrl, ...app.value });
        } catch (e) {
          return problemsFromX(e, 'consumerKey');
        }
        const existing = await store.destinations.getCredentials(sandboxId, id);
        // The stored credentials keep working until the login completes (and passes the checks, for a connection
        // that works): the login's app and request token wait beside them.
        await store.destinations.setCredentials(sandboxId, id, {
          consumerKey: existing?.consumerKey ?? app.value.consumerKey,
          consumerSecret: existing?.consumerSecret ?? app.value.consumerSecret,
          ...(existing?.accessToken !== undefined ? { accessToken: existing.accessToken } : {}),
          ...(existing?.accessTokenSecret !== undefined
            ? { accessTokenSecret: existing.accessTokenSecret }
            : {}),
          extra: {
            requestToken: started.requestToken,
            requestTokenSecret: started.requestTokenSecret,
            loginConsumerKey: app.value.consumerKey,
            loginConsumerSecret: app.value.consumerSecret,
          },
        });
        return {
          ok: true,
          value: { authorizeUrl: started.authorizeUrl, requestToken: started.requestToken },
        };
      },
      async loginComplete(sandboxId, id, input) {
        const d = await store.destinations.get(sandboxId, id);
        if (!d) return undefined;
        const creds = await store.destinations.getCredentials(sandboxId, id);
        const requestToken = creds?.extra?.['requestToken'];
        const requestTokenSecret = creds?.extra?.['requestTokenSecret'];
        if (!creds || requestToken === undefined || requestTokenSecret === undefined) {
          return problems([
            { path: 'pin', reason: 'no login in progress; start with POST /api/v1/destinations/:id/login' },
          ]);
        }
        if (input.requestToken !== undefined && input.requestToken !== requestToken) {
          return problems([
            { path: 'requestToken', reason: 'does not match the login in progress; start the login again' },
          ]);
        }
        // A login started before the app was kept beside the credentials used the stored app.
        const consumerKey = creds.extra?.['loginConsumerKey'] ?? creds.consumerKey;
        const consumerSecret = creds.extra?.['loginConsumerSecret'] ?? creds.consumerSecret;
        const apiBaseUrl = d.apiBaseUrl ?? options.defaultXApiBaseUrl;
        let access;
        try {
          access = await x.loginComplete({
            apiBaseUrl,
            consumerKey,
            consumerSecret,
            requestToken,
            requestTokenSecret,
            pin: input.pin,
          });
        } catch (e) {
          return problemsFromX(e, 'pin');
        }
        const issued = {
          consumerKey,
          consumerSecret,
          accessToken: access.accessToken,
          accessTokenSecret: access.accessTokenSecret,
        };
        if (d.status === 'active') {
          // A connection that works is replaced only by one that passes the checks too.
          const checked = await verifyCandidate(sandboxId, d, { credentials: issued });
          if (!checked.saved) {
            const { extra: _pending, ...working } = creds;
            await store.destinations.setCredentials(sandboxId, id, working);
            const failed = checked.checks.find((c) => c.status === 'fail');
            return problems([
              {
                path: 'pin',
                reason:
                  `X issued access tokens, but they do not pass the checks (${failed?.message ?? 'not every check ran'}); ` +
                  'nothing was saved and the connection keeps its working credentials. Log in as a user with access ' +
                  'to the ads account and the Partner Audience Manager permission',
              },
            ]);
          }
          const after = await store.destinations.get(sandboxId, id);
          return after && { ok: true, value: await destinationView(after) };
        }
        await store.destinations.setCredentials(sandboxId, id, issued);
        const updated = await store.destinations.update(sandboxId, id, {
          status: 'unverified',
          statusReason: null,
        });
        if (!updated) return undefined;
        return verifySaved(sandboxId, updated);
      },
    },

    segments: {
      async list(sandboxId) {
        return Promise.all((await store.segments.list(sandboxId)).map(segmentView));
      },
      async create(sandboxId, input) {
        const labels = checkLabels(input.labels ?? []);
        const idCheck = rules.checkSegmentId(input.id);
        const p = [
          ...(idCheck.ok ? [] : [{ path: 'id', reason: idCheck.reason }]),
          ...displayNameProblems(input.name, 'name', 'segment name'),
          ...labels.problems,
        ];
        if (p.length > 0) return problems(p);
        const s = await store.segments.create({
          sandboxId,
          id: input.id,
          namespace: input.namespace,
          name: input.name.trim(),
          description: input.description ?? null,
          labels: labels.labels,
        });
        return { ok: true, value: await segmentView(s) };
      },
      async update(sandboxId, id, patch) {
        const current = await store.segments.get(sandboxId, id);
        if (!current) return undefined;
        const labels = patch.labels === undefined ? undefined : checkLabels(patch.labels);
        const p = [...displayNameProblems(patch.name, 'name', 'segment name'), ...(labels?.problems ?? [])];
        if (p.length > 0) return problems(p);
        if (labels) {
          // Labels of an activated segment may not come to forbid what its destinations are used for: refused once,
          // with every violation over every dataflow that activates it.
          const refused = await activationViolationDetails(
            sandboxId,
            'labels',
            await customPolicies(sandboxId),
            {
              segment: { ...current, labels: labels.labels },
            },
          );
          if (refused.length > 0) throw policyViolation(refused);
        }
        // A patch of what is stored already (`{}`, say) writes nothing: `updatedAt` stays, and no change is recorded.
        if (
          (patch.name === undefined || patch.name.trim() === current.name) &&
          (patch.description === undefined || patch.description === (current.description ?? '')) &&
          (labels === undefined || labels.labels.join('\u0000') === current.labels.join('\u0000'))
        )
          return { ok: true, unchanged: true, value: await segmentView(current) };
        const s = await store.segments.update(sandboxId, id, {
          ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(labels ? { labels: labels.labels } : {}),
        });
        // Consent policies on labels apply through the segment's labels: its audiences are decided again.
        if (
          s &&
          labels &&
          labels.labels.join() !== current.labels.join() &&
          (await consentOnLabels(sandboxId))
        )
          await engine.reevaluate({ sandboxId, segmentId: id });
        return s && { ok: true, value: await segmentView(s) };
      },
      async remove(sandboxId, id) {
        // Checked in the transaction that deletes, so an activation saved meanwhile is seen.
        return store.transaction(async (tx): Promise<Checked<true> | undefined> => {
          if (!(await tx.segments.get(sandboxId, id))) return undefined;
          // Every dataflow that activates it, whatever its status (paused and failed ones resume with it); a deleted
          // dataflow's audiences are only being cleaned up at X, which needs no segment.
          const flows = new Map((await tx.dataflows.list(sandboxId)).map((d) => [d.id, d]));
          const users = new Map<string, Dataflow>();
          for (const a of await tx.audiences.list(sandboxId, { segmentIds: [id] })) {
            const d = flows.get(a.dataflowId);
            if (d && isActivated(a)) users.set(d.id, d);
          }
          if (users.size > 0) {
            return problems(
              [...users.values()].map((d) => ({
                path: 'id',
                reason:
                  `activated by dataflow ${d.id} ("${d.name}", ${d.status}): remove the segment from it ` +
                  `(PATCH /api/v1/dataflows/${d.id} with audiences that leave it out, or tca dataflows update ${d.id} ` +
                  `--remove-segment ${id}) or delete the dataflow, then delete the segment`,
              })),
            );
          }
          // Nothing else belongs to the segment alone: the audiences of removed activations belong to their dataflows
          // (their runs refer to them), and the memberships profiles carry are recorded for every segment an export
          // names, registered or not, so registering the segment again finds its members.
          await tx.segments.delete(sandboxId, id);
          return { ok: true, value: true };
        });
      },
    },

    dataflows: {
      async list(sandboxId) {
        const flows = await store.dataflows.list(sandboxId);
        const audiences = await store.audiences.list(sandboxId);
        return Promise.all(
          flows.map((d) =>
            dataflowView(
              d,
              audiences.filter((a) => a.dataflowId === d.id),
            ),
          ),
        );
      },
      async get(sandboxId, id) {
        const d = await liveDataflow(sandboxId, id);
        return d && dataflowView(d, await store.audiences.list(sandboxId, { dataflowId: id }));
      },
      async create(sandboxId, input) {
        const checked = await checkDataflow(sandboxId, input);
        const segments = checked.segments;
        const p = [...displayNameProblems(input.name, 'name', 'dataflow name'), ...checked.problems];
        if (p.length > 0) return problems(p);
        // Refused once, with every violation of its segments and of its mapping.
        const refused = await dataflowViolationDetails(
          sandboxId,
          input.name.trim(),
          input.destinationId,
          input.audiences,
          segments,
          input.mapping,
        );
        if (refused.length > 0) throw policyViolation(refused);
        const created = await store.transaction(async (tx) => {
          const d = await tx.dataflows.create({
            sandboxId,
            destinationId: input.destinationId,
            name: input.name.trim(),
            mapping: input.mapping,
            ...(input.maxBatchAgeSeconds !== undefined
              ? { maxBatchAgeSeconds: input.maxBatchAgeSeconds }
              : {}),
            noDataAlertHours: input.noDataAlertHours ?? null,
            ...(input.onAudienceRemoval !== undefined ? { onAudienceRemoval: input.onAudienceRemoval } : {}),
            status: input.status ?? 'active',
          });
          const auds: Audience[] = [];
          for (const a of input.audiences) {
            auds.push(
              await tx.audiences.create({
                sandboxId,
                dataflowId: d.id,
                segmentId: a.segmentId,
                ...audienceFields(a, segments.get(a.segmentId)),
              }),
            );
          }
          return { d, auds };
        });
        return { ok: true, value: await dataflowView(created.d, created.auds) };
      },
      async update(sandboxId, id, patch) {
        const current = await liveDataflow(sandboxId, id);
        if (!current) return undefined;
        const live = new Map(
          (await store.audiences.list(sandboxId, { dataflowId: id }))
            .filter(isActivated)
            .map((a) => [a.segmentId, a]),
        );
        const checked = await checkDataflow(sandboxId, patch, live);
        const segments = checked.segments;
        const p = [...displayNameProblems(patch.name, 'name', 'dataflow name'), ...checked.problems];
        if (patch.audiences !== undefined) {
          patch.audiences.forEach((w, i) => {
            const a = live.get(w.segmentId);
            if (!a || w.existingXAudienceId === undefined) return;
            if ((w.existingXAudienceId ?? null) === a.existingXAudienceId) return;
            // The engine resolves the X audience once; a later change would be silently ignored.
            p.push({
              path: `audiences[${i}].existingXAudienceId`,
              reason:
                `cannot change once the segment is activated (it is ${a.existingXAudienceId === null ? 'not attached' : `attached to ${a.existingXAudienceId}`}` +
                `${a.xAudienceId === null ? '' : `; X audience in use: ${a.xAudienceId}`}); omit it to keep it, or remove the segment, save, and add it again`,
            });
          });
        }
        if (p.length > 0) return problems(p);
        // New segments and a new mapping are checked together: refused once, with every violation.
        const refused = await dataflowViolationDetails(
          sandboxId,
          patch.name?.trim() ?? current.name,
          current.destinationId,
          patch.audiences,
          segments,
          patch.mapping,
        );
        if (refused.length > 0) throw policyViolation(refused);
        // A patch of what is stored already (`{}`, or the audiences it activates sent back as they are, which is
        // what adding a segment it activates comes to) writes nothing: `updatedAt` stays, and no change is recorded.
        if (dataflowPatchIsNoop(current, patch, live, segments))
          return {
            ok: true,
            unchanged: true,
            value: await dataflowView(current, await store.audiences.list(sandboxId, { dataflowId: id })),
          };
        const updated = await store.transaction(async (tx) => {
          const d = await tx.dataflows.update(sandboxId, id, {
            ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
            ...(patch.mapping !== undefined ? { mapping: patch.mapping } : {}),
            ...(patch.maxBatchAgeSeconds !== undefined
              ? { maxBatchAgeSeconds: patch.maxBatchAgeSeconds }
              : {}),
            ...(patch.noDataAlertHours !== undefined ? { noDataAlertHours: patch.noDataAlertHours } : {}),
            ...(patch.onAudienceRemoval !== undefined ? { onAudienceRemoval: patch.onAudienceRemoval } : {}),
            ...(patch.status !== undefined
              ? { status: patch.status, statusReason: patch.status === 'paused' ? 'paused by a user' : null }
              : {}),
          });
          if (patch.audiences !== undefined) {
            const existing = await tx.audiences.list(sandboxId, { dataflowId: id });
            const live = existing.filter(isActivated);
            const wanted = new Map(patch.audiences.map((a) => [a.segmentId, a]));
            for (const a of live) {
              const w = wanted.get(a.segmentId);
              if (!w) {
                // The engine deletes (or keeps, per the dataflow's policy) the X audience of a removed segment.
                await tx.audiences.update(sandboxId, a.id, { state: 'removing' });
                continue;
              }
              // A setting left out keeps its stored value (send null to clear endDate or ttlDays).
              const f = audienceFields(w, segments.get(w.segmentId));
              await tx.audiences.update(sandboxId, a.id, {
                ...(w.mappingName !== undefined ? { mappingName: f.mappingName } : {}),
                ...(w.startDate !== undefined ? { startDate: f.startDate } : {}),
                ...(w.endDate !== undefined ? { endDate: f.endDate } : {}),
                ...(w.ttlDays !== undefined ? { ttlDays: f.ttlDays } : {}),
                ...(w.removeMembersAtEnd !== undefined ? { removeMembersAtEnd: f.removeMembersAtEnd } : {}),
              });
              wanted.delete(a.segmentId);
            }
            for (const w of wanted.values()) {
              await tx.audiences.create({
                sandboxId,
                dataflowId: id,
                segmentId: w.segmentId,
                ...audienceFields(w, segments.get(w.segmentId)),
              });
            }
          }
          return d;
        });
        if (!updated) return undefined;
        // Members are rebuilt from the stored profiles with the new mapping: identifiers it no longer maps leave X.
        if (
          patch.mapping !== undefined &&
          JSON.stringify(updated.mapping) !== JSON.stringify(current.mapping)
        )
          await engine.reevaluate({ sandboxId, dataflowId: id });
        return {
          ok: true,
          value: await dataflowView(updated, await store.audiences.list(sandboxId, { dataflowId: id })),
        };
      },
      async remove(sandboxId, id) {
        if (!(await liveDataflow(sandboxId, id))) return false;
        // Retire rather than delete the row, so the engine can still clean up the dataflow's X audiences.
        await store.transaction(async (tx) => {
          await tx.dataflows.update(sandboxId, id, { status: 'deleted', statusReason: 'deleted by a user' });
          for (const a of await tx.audiences.list(sandboxId, { dataflowId: id })) {
            if (a.state !== 'removed') await tx.audiences.update(sandboxId, a.id, { state: 'removing' });
          }
        });
        return true;
      },
      async plan(sandboxId, id) {
        return (await liveDataflow(sandboxId, id)) ? engine.plan(sandboxId, id) : undefined;
      },
      async runs(sandboxId, id, range) {
        return (await liveDataflow(sandboxId, id)) ? engine.runs(sandboxId, id, range) : undefined;
      },
      async monitoring(sandboxId, range) {
        const to = range.to ?? now();
        const window = { from: range.from ?? to - RANGE_MS[range.range], to };
        if (window.from >= window.to)
          return problems([
            { path: range.to === undefined ? 'from' : 'to', reason: 'the window must end after it starts' },
          ]);
        const [flows, destinations, allAudiences, firing] = await Promise.all([
          store.dataflows.list(sandboxId),
          store.destinations.list(sandboxId),
          store.audiences.list(sandboxId),
          listAlerts(store.db, sandboxId, { status: 'firing', limit: 10_000 }),
        ]);
        const audiences = allAudiences.filter(isActivated);
        const [totals, pending, received] = await Promise.all([
          engine.runTotals(
            flows.map((d) => d.id),
            window,
          ),
          engine.outlook(
            sandboxId,
            audiences.map((a) => a.id),
          ),
          // Whatever the window: a source that went quiet shows as such on a 24-hour view too.
          engine.lastReceivedAt(
            flows.map((d) => d.id),
            now() - LAST_PROFILES_LOOKBACK_MS,
          ),
        ]);
        const alertsOf = new Map<string, number>();
        for (const { alert } of firing)
          alertsOf.set(alert.dataflowId, (alertsOf.get(alert.dataflowId) ?? 0) + 1);
        const audiencesOf = new Map<string, typeof audiences>();
        for (const a of audiences) {
          const list = audiencesOf.get(a.dataflowId);
          if (list) list.push(a);
          else audiencesOf.set(a.dataflowId, [a]);
        }
        const rows = flows.map((d): MonitoringView['dataflows'][number] => {
          const own = audiencesOf.get(d.id) ?? [];
          const t = totals.get(d.id)!;
          let waiting = 0;
          let oldest: number | null = null;
          let next: { at: number; reason: DeliveryOutlook['nextDeliveryReason'] } | null = null;
          let lastDelivery: number | null = null;
          let membersAtX: number | null = null;
          for (const a of own) {
            const p = pending.get(a.id);
            if (p) {
              waiting += p.adds + p.removes;
              if (p.oldestAt !== null && (oldest === null || p.oldestAt < oldest)) oldest = p.oldestAt;
              if (p.nextDeliveryAt !== null && (next === null || p.nextDeliveryAt < next.at))
                next = { at: p.nextDeliveryAt, reason: p.nextDeliveryReason };
            }
            if (a.lastDeliveryAt !== null && (lastDelivery === null || a.lastDeliveryAt > lastDelivery))
              lastDelivery = a.lastDeliveryAt;
            if (a.audienceSize !== null) membersAtX = (membersAtX ?? 0) + a.audienceSize;
          }
          const alertsFiring = alertsOf.get(d.id) ?? 0;
          const attention: MonitoringView['dataflows'][number]['attention'] = [];
          if (d.status === 'paused' && d.statusReason !== null) attention.push('paused');
          // Failures nobody has replayed yet: a replayed dead letter needs no look (its new attempt is under way).
          if (t.unreplayedDeadLetters > 0) attention.push('identities_failed');
          if (alertsFiring > 0) attention.push('alerts_firing');
          const looked = own.map((a) => ({
            targetable: a.targetable,
            reasons: a.reasonsNotTargetable ?? [],
          }));
          if (looked.some(notTargetableAfterProcessing)) attention.push('not_targetable');
          return {
            dataflowId: d.id,
            name: d.name,
            destinationId: d.destinationId,
            destinationName: destinations.find((x) => x.id === d.destinationId)?.name ?? null,
            status: d.status,
            statusReason: d.statusReason,
            audiences: own.length,
            membersAtX,
            profilesReceived: t.profilesReceived,
            identitiesActivated: t.identitiesActivated,
            identitiesAdded: t.identitiesAdded,
            identitiesRemoved: t.identitiesRemoved,
            identitiesExcluded: t.identitiesExcluded,
            identitiesFailed: t.identitiesFailed,
            excludedByReason: t.excludedByReason,
            failedByCode: t.failedByCode,
            activationRate: t.activationRate,
            xRequests: t.xRequests,
            pendingChanges: waiting,
            oldestPendingAt: iso(oldest),
            nextDeliveryAt: iso(next?.at ?? null),
            nextDeliveryReason: next?.reason ?? null,
            pendingPeak: t.pendingPeak,
            lastDeliveryAt: iso(lastDelivery),
            lastRunAt: iso(t.lastRunAt),
            lastProfilesAt: iso(received.get(d.id) ?? null),
            alertsFiring,
            attention,
          };
        });
        const sum = (pick: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + pick(r), 0);
        const activated = sum((r) => r.identitiesActivated);
        const processed = activated + sum((r) => r.identitiesExcluded) + sum((r) => r.identitiesFailed);
        return {
          ok: true,
          value: {
            from: new Date(window.from).toISOString(),
            to: new Date(window.to).toISOString(),
            summary: {
              dataflows: rows.length,
              needingAttention: rows.filter((r) => r.attention.length > 0).length,
              profilesReceived: sum((r) => r.profilesReceived),
              identitiesActivated: activated,
              identitiesExcluded: sum((r) => r.identitiesExcluded),
              identitiesFailed: sum((r) => r.identitiesFailed),
              activationRate: processed === 0 ? null : activated / processed,
              xRequests: sum((r) => r.xRequests),
              pendingChanges: sum((r) => r.pendingChanges),
              // Every firing alert of the sandbox, those of dataflows deleted since included.
              alertsFiring: firing.length,
            },
            dataflows: rows,
          },
        };
      },
      async flush(sandboxId, id, options) {
        return (await liveDataflow(sandboxId, id)) ? engine.flush(sandboxId, id, options) : undefined;
      },
    },

    audiences: {
      async list(sandboxId, filter) {
        const audiences = (
          await store.audiences.list(
            sandboxId,
            filter.dataflowId === undefined ? {} : { dataflowId: filter.dataflowId },
          )
        ).filter((a) => a.state !== 'removed');
        const outlook = await engine.outlook(
          sandboxId,
          audiences.map((a) => a.id),
        );
        return audiences.map((a): AudienceView => ({
          id: a.id,
          dataflowId: a.dataflowId,
          segmentId: a.segmentId,
          name: a.xAudienceName ?? a.mappingName,
          xAudienceId: a.xAudienceId,
          existingXAudienceId: a.existingXAudienceId,
          size: a.audienceSize,
          targetable: a.targetable,
          reasonsNotTargetable: a.reasonsNotTargetable ?? [],
          pendingAdds: outlook.get(a.id)?.adds ?? 0,
          pendingRemoves: outlook.get(a.id)?.removes ?? 0,
          oldestPendingAt: iso(outlook.get(a.id)?.oldestAt ?? null),
          nextDeliveryAt: iso(outlook.get(a.id)?.nextDeliveryAt ?? null),
          nextDeliveryReason: outlook.get(a.id)?.nextDeliveryReason ?? null,
          lastDeliveryAt: iso(a.lastDeliveryAt),
          status: a.state,
        }));
      },
      activateNow: (sandboxId, id) => engine.activateNow(sandboxId, id),
    },

    alerts: {
      async test(sandboxId) {
        const url = options.alertWebhookUrl;
        if (!url)
          return problems([
            {
              path: 'TCA_ALERT_WEBHOOK_URL',
              reason:
                "the installation has no alert webhook: set TCA_ALERT_WEBHOOK_URL (or test a destination's own)",
            },
          ]);
        return {
          ok: true,
          value: await testWebhook(sandboxId, url, null, options.alertWebhookFormat ?? 'json'),
        };
      },
      async testEmail(sandboxId) {
        const email = options.alertEmail;
        if (!email || email.to.length === 0)
          return problems([
            {
              path: 'TCA_ALERT_EMAIL_TO',
              reason: email
                ? "the installation has no alert recipients: set TCA_ALERT_EMAIL_TO (or test a destination's own)"
                : 'the installation emails no alert: set TCA_ALERT_EMAIL_TO, TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL',
            },
          ]);
        const message = 'Test alert email: these recipients receive every alert of the installation';
        return { ok: true, value: await sendTestEmail(email, sandboxId, email.to, message, '') };
      },
      async testPagerDuty(sandboxId) {
        const pagerDuty = options.alertPagerDuty;
        if (!pagerDuty)
          return problems([
            {
              path: 'TCA_ALERT_PAGERDUTY_ROUTING_KEY',
              reason: 'the installation sends no alert to PagerDuty: set TCA_ALERT_PAGERDUTY_ROUTING_KEY',
            },
          ]);
        return { ok: true, value: await sendTestIncident(sandboxId, pagerDuty.routingKey) };
      },
      list: async (sandboxId, filter) => (await listAlerts(store.db, sandboxId, filter)).map(alertView),
      async acknowledge(sandboxId, alertId, by) {
        const outcome = await acknowledgeAlert(store, { sandboxId, alertId, by, at: now() });
        return typeof outcome === 'string' ? outcome : alertView(outcome);
      },
      silences: {
        list: async (sandboxId, filter) =>
          (await listSilences(store.db, sandboxId, { expired: filter.expired, now: now() })).map(silenceView),
        async create(sandboxId, input, createdBy) {
          const at = now();
          const startsAt = input.startsAt === undefined ? at : Date.parse(input.startsAt);
          const endsAt =
            input.endsAt !== undefined
              ? Date.parse(input.endsAt)
              : startsAt + input.durationMinutes! * 60_000;
          const found: ErrorDetail[] = [];
          if (endsAt <= startsAt) found.push({ path: 'endsAt', reason: 'must be after startsAt' });
          else if (endsAt <= at) found.push({ path: 'endsAt', reason: 'is in the past' });
          else if (endsAt - startsAt > MAX_SILENCE_MS)
            found.push({
              path: 'endsAt',
              reason: 'a silence lasts at most 30 days: fix the cause, or change the alert thresholds',
            });
          if (startsAt - at > MAX_SILENCE_MS)
            found.push({ path: 'startsAt', reason: 'starts at most 30 days ahead' });
          if (input.dataflowId !== undefined && !(await store.dataflows.get(sandboxId, input.dataflowId)))
            found.push({ path: 'dataflowId', reason: `no dataflow ${input.dataflowId} in this sandbox` });
          if (found.length > 0) return problems(found);
          const silence = await createSilence(store.db, {
            id: store.newId('sil'),
            sandboxId,
            dataflowId: input.dataflowId ?? null,
            type: input.type ?? null,
            startsAt,
            endsAt,
            comment: input.comment,
            createdBy,
            createdAt: at,
          });
          return { ok: true, value: silenceView(silence) };
        },
        async end(sandboxId, id) {
          const ended = await endSilence(store.db, sandboxId, id, now());
          return ended === null ? undefined : silenceView(ended);
        },
      },
    },
    deadLetters: {
      list: (sandboxId, filter) => engine.deadLetters(sandboxId, filter),
      replay: (sandboxId, selection) => engine.replayDeadLetters(sandboxId, selection),
    },

    ingestBody: (sandboxId, body, { requestId, digest }) =>
      engine.ingestBody(sandboxId, body, requestId, digest),
    profileKeys: {
      get: (sandboxId) => engine.profileKeys(sandboxId),
      set: (sandboxId, namespaces, options) => engine.setProfileKeys(sandboxId, namespaces, options),
      finishRekey: (sandboxId, options) => engine.finishProfileRekey(sandboxId, options),
    },
    dataUsagePolicies: {
      get: async (sandboxId) => policiesView(await customPolicies(sandboxId)),
      async set(sandboxId, input) {
        const checked = rules.checkCustomPolicies(input, () => store.newId('dup'));
        if (!checked.ok) return problems(checked.problems);
        // A policy that an activation in place already breaks is refused: fix the activation (or the labels) first.
        const details = await activationViolationDetails(sandboxId, 'policies', checked.policies);
        // Dataflows in place may export labelled fields the new set forbids.
        details.push(
          ...(await mappingViolationDetails(sandboxId, 'policies', {
            fields: await fieldLabels(sandboxId),
            custom: checked.policies,
          })),
        );
        if (details.length > 0) throw policyViolation(details);
        await store.sandboxes.setDataUsagePolicies(sandboxId, JSON.stringify(checked.policies));
        return { ok: true, value: policiesView(checked.policies) };
      },
    },
    fieldLabels: {
      get: async (sandboxId) => ({ fields: await fieldLabels(sandboxId) }),
      async set(sandboxId, input) {
        const checked = rules.checkFieldLabels(input);
        if (!checked.ok) return problems(checked.problems);
        // Labels that a dataflow in place already breaks are refused: fix its mapping or destination first.
        const details = await mappingViolationDetails(sandboxId, 'fields', {
          fields: checked.fields,
          custom: await customPolicies(sandboxId),
        });
        if (details.length > 0) throw policyViolation(details);
        const json = JSON.stringify(checked.fields);
        const before = await store.sandboxes.fieldLabels(sandboxId);
        await store.sandboxes.setFieldLabels(sandboxId, json);
        // Consent policies on labels apply through the labels of mapped fields.
        if (before !== json && (await consentOnLabels(sandboxId))) await engine.reevaluate({ sandboxId });
        return { ok: true, value: { fields: checked.fields } };
      },
    },
    consentPolicies: {
      get: (sandboxId) => engine.consentPolicies(sandboxId),
      set: (sandboxId, policies) => engine.setConsentPolicies(sandboxId, policies),
      preview: (sandboxId, destinationId, segmentIds, mapping) =>
        engine.consentPreview(sandboxId, destinationId, segmentIds, mapping),
    },
    erase: (sandboxId, identities) => engine.erase(sandboxId, identities),
    async importFile(sandboxId, input) {
      const refused = await importProblems(sandboxId, input);
      if (refused.length > 0) return problems(refused);
      return { ok: true, value: await engine.importStream(sandboxId, input) };
    },
    async importUrl(sandboxId, input) {
      // Nothing is fetched for an import that could not start.
      const refused = [
        ...urlProblems(input.url, options.importUrlAllow ?? []),
        ...(await importProblems(sandboxId, input)),
      ];
      if (refused.length > 0) return problems(refused);
      const opened = await openImportUrl(input.url, options.importUrlAllow ?? []);
      if (!opened.ok) return opened;
      const source = opened.value;
      const format = input.format ?? urlFormat(source.url.href, source.contentType);
      const key = input.key ?? urlImportKey(source.url.href, source.version, input);
      if (format === 'parquet') {
        // Read from its end, by byte ranges, from where the redirects led.
        await source.cancel();
        if (source.totalBytes === null)
          return problems([
            {
              path: 'url',
              reason: `${publicUrl(source.url)} did not say its size (Content-Length), which reading a Parquet file by byte ranges needs`,
            },
          ]);
        return {
          ok: true,
          value: await engine.importRanges(sandboxId, {
            buffer: new RangedUrl({ ...source, totalBytes: source.totalBytes }),
            name: publicUrl(source.url),
            mode: input.mode,
            segmentId: input.segmentId,
            keyNamespace: input.keyNamespace,
            maxRejectedPercent: input.maxRejectedPercent,
            maxRemovedPercent: input.maxRemovedPercent,
            key,
          }),
        };
      }
      return {
        ok: true,
        value: await engine.importStream(sandboxId, {
          bytes: source.body,
          totalBytes: source.totalBytes,
          name: publicUrl(source.url),
          format,
          mode: input.mode,
          segmentId: input.segmentId,
          keyNamespace: input.keyNamespace,
          maxRejectedPercent: input.maxRejectedPercent,
          maxRemovedPercent: input.maxRemovedPercent,
          key,
        }),
      };
    },
    imports: {
      list: (sandboxId, limit) => engine.imports(sandboxId, limit),
      get: (sandboxId, key) => engine.importStatus(sandboxId, key),
    },
  };
}

/** The app to log in with: the request's, or the service's default; both keys or neither. */
function loginApp(
  input: { consumerKey?: string | undefined; consumerSecret?: string | undefined },
  fallback: { consumerKey: string; consumerSecret: string } | undefined,
): Checked<{ consumerKey: string; consumerSecret: string }> {
  const { consumerKey, consumerSecret } = input;
  if (consumerKey !== undefined && consumerSecret !== undefined)
    return { ok: true, value: { consumerKey, consumerSecret } };
  if (consumerKey !== undefined || consumerSecret !== undefined) {
    const missing = consumerKey === undefined ? 'consumerKey' : 'consumerSecret';
    return problems([
      {
        path: missing,
        reason: "required with the other app key; send both, or neither to use the service's app",
      },
    ]);
  }
  if (fallback) return { ok: true, value: fallback };
  return problems([
    {
      path: 'consumerKey',
      reason:
        "required: the service has no default X app; send the app's consumerKey and consumerSecret, or set " +
        'TCA_X_CONSUMER_KEY and TCA_X_CONSUMER_SECRET on the service',
    },
  ]);
}

/** An X error during login: a client mistake (bad keys, wrong PIN) is a 400 on `field`; anything else a 502. */
function problemsFromX(error: unknown, field: string): { ok: false; problems: ErrorDetail[] } {
  const e = error as { kind?: string; message?: string; status?: number };
  if (
    e.kind === 'auth' ||
    e.kind === 'validation' ||
    e.kind === 'permission' ||
    e.status === 401 ||
    e.status === 400
  ) {
    return problems([{ path: field, reason: `X refused: ${e.message ?? 'unauthorized'}` }]);
  }
  throw upstreamError(`X did not answer the login request: ${e.message ?? String(error)}`);
}

/** A page's last audit event as an opaque cursor (base64url of `at.id`). */
function encodeAuditCursor(event: { at: number; id: string }): string {
  return Buffer.from(`${event.at}.${event.id}`, 'utf8').toString('base64url');
}

/** The event a cursor names: undefined without a cursor, false for one this API did not give. */
function decodeAuditCursor(cursor: string | undefined): { at: number; id: string } | undefined | false {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const dot = text.indexOf('.');
  const at = Number(text.slice(0, dot));
  const id = text.slice(dot + 1);
  if (dot <= 0 || !Number.isSafeInteger(at) || id === '') return false;
  return { at, id };
}
