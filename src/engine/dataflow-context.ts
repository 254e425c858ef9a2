import type BetterSqlite3 from 'better-sqlite3';
import type { Selectable } from 'kysely';
import {
  consentRequirements,
  parseStoredConsentPolicies,
  type ConsentRequirement,
} from '../audience/consent.ts';
import { mappingLabels, type FieldLabel } from '../audience/governance.ts';
import type { MappingRow } from '../audience/mapping.ts';
import type { DataflowAudiencesTable, DataflowsTable } from '../store/schema/core.ts';
import type { Db } from './sql-helpers.ts';
import { isScheduleActive } from './schedule.ts';

/** Dataflow statuses whose audiences keep their ledger up to date (delivery runs only for `active`). */
export const TRACKED_DATAFLOW_STATUSES = ['active', 'paused', 'failed'] as const;
/** Audience states that are gone from the dataflow. */
export const REMOVED_AUDIENCE_STATES = ['removing', 'removed'] as const;

/** An activated audience as ingest and delivery see it. */
export interface AudienceContext {
  id: string;
  dataflowId: string;
  segmentId: string;
  mappingName: string;
  startAt: number;
  endAt: number | null;
  ttlDays: number | null;
  existingXAudienceId: string | null;
  /**
   * Consent requirements of this audience beyond its dataflow's `consent`: policies on data-usage labels that its
   * segment carries. Usually none.
   */
  extraConsent: ConsentRequirement[];
}

export interface DataflowContext {
  id: string;
  sandboxId: string;
  destinationId: string;
  status: string;
  mapping: MappingRow[];
  /** Keys of `mapping`'s rows (see `mappingRowKey`). */
  rowKeys: string[];
  maxBatchAgeSeconds: number;
  cadenceMode: string;
  cadenceWindowSeconds: number;
  onAudienceRemoval: string;
  /**
   * What the sandbox's enabled consent policies demand of a profile for every audience of this dataflow: those that
   * apply through the destination's marketing actions and the labels of the fields its mapping exports.
   */
  consent: ConsentRequirement[];
  audiences: AudienceContext[];
}

export interface SandboxContext {
  sandboxId: string;
  /** Every mapping row any tracked dataflow of the sandbox uses, by key: profiles keep one value list per row. */
  rows: Map<string, MappingRow>;
  dataflows: DataflowContext[];
  /** Namespaces (upper case) that give the profile key, in order of preference. */
  keyNamespaces: string[];
  /**
   * While the sandbox is re-keyed: the namespaces its older profiles were keyed by. A profile not found under its key
   * is looked for under the key these give, and adopted (see `setProfileKeyNamespaces`). Null otherwise.
   */
  previousKeyNamespaces: string[] | null;
  /** The sandbox's `profile_key_generation`: profiles written now are marked with it. */
  keyGeneration: number;
  /**
   * Whether the sandbox may hold a profile keyed by a key namespace other than the first (`profile_key_aliases`):
   * then each export's ids in the later key namespaces are looked up, to merge the profile they name (see
   * `ProfileEvaluation.aliasKeys`). A batch holding such a profile cannot be written while it is false (see
   * `ingest.ts`, `keyAliasesNeeded`).
   */
  keyAliases: boolean;
}

/** A re-keying in progress as the sandbox row stores it (`profile_key_rekey`). */
export interface StoredRekey {
  /** The namespaces the profiles of older generations were keyed by (upper case). */
  from: string[];
  /** When the re-keying began, epoch ms. */
  since: number;
}

/** The re-keying in progress from a sandbox's `profile_key_rekey` JSON, or null. */
export function rekeyOf(json: string | null | undefined): StoredRekey | null {
  return json ? (JSON.parse(json) as StoredRekey) : null;
}

/** The sandbox row's settings the context is built from. */
interface SandboxSettings {
  profile_key_namespaces: string | null;
  profile_key_generation: number;
  profile_key_rekey: string | null;
  profile_key_aliases: number;
  consent_policies: string;
  /** JSON of `FieldLabel[]`. */
  field_labels: string;
}

/**
 * The identity of a mapping row: the same source mapped to the same target the same way yields the same values, so
 * dataflows sharing a row share its stored values (and a backfill can rebuild users from them).
 */
export function mappingRowKey(row: MappingRow): string {
  return `${row.sourceType}|${row.source}|${row.target}|${row.applyTransformation ? 1 : 0}`;
}

type FlowRow = Pick<
  Selectable<DataflowsTable>,
  | 'id'
  | 'sandbox_id'
  | 'destination_id'
  | 'status'
  | 'mapping'
  | 'max_batch_age_seconds'
  | 'cadence_mode'
  | 'cadence_window_seconds'
  | 'on_audience_removal'
> & {
  /** The destination's marketing actions (JSON), which decide the consent policies that apply. */
  marketing_actions: string | null;
};
type AudienceRow = Pick<
  Selectable<DataflowAudiencesTable>,
  | 'id'
  | 'dataflow_id'
  | 'segment_id'
  | 'mapping_name'
  | 'start_date'
  | 'end_date'
  | 'ttl_days'
  | 'existing_x_audience_id'
> & {
  /** The segment's data-usage labels (JSON), which decide the consent policies on labels that apply. */
  segment_labels: string | null;
};

/**
 * Builds the context from the tracked dataflows and their live audiences, both in creation order, and the sandbox's
 * profile key namespaces (its `profile_key_namespaces` JSON; null: `defaultKeyNamespaces`).
 */
function buildSandboxContext(
  sandboxId: string,
  flows: readonly FlowRow[],
  audiences: readonly AudienceRow[],
  sandbox: SandboxSettings | undefined,
  defaultKeyNamespaces: readonly string[],
): SandboxContext {
  const rows = new Map<string, MappingRow>();
  const policies = parseStoredConsentPolicies(sandbox?.consent_policies ?? '[]');
  const fields = JSON.parse(sandbox?.field_labels ?? '[]') as FieldLabel[];
  const dataflows: DataflowContext[] = flows.map((flow) => {
    const mapping = JSON.parse(flow.mapping) as MappingRow[];
    const rowKeys = mapping.map((row) => {
      const key = mappingRowKey(row);
      rows.set(key, row);
      return key;
    });
    const marketingActions = JSON.parse(flow.marketing_actions ?? '[]') as string[];
    const fieldLabels = policies.length === 0 ? [] : mappingLabels(mapping, fields);
    const consent =
      policies.length === 0 ? [] : consentRequirements(policies, { marketingActions, labels: fieldLabels });
    // Labels only widen what applies: an audience's requirements are its dataflow's and those its segment adds.
    const common = new Set(consent.map((r) => r.policyId));
    const extraConsent = (segmentLabels: string | null): ConsentRequirement[] => {
      const labels = JSON.parse(segmentLabels ?? '[]') as string[];
      if (labels.length === 0 || !policies.some((p) => p.labels.length > 0)) return [];
      return consentRequirements(policies, { marketingActions, labels: [...fieldLabels, ...labels] }).filter(
        (r) => !common.has(r.policyId),
      );
    };
    return {
      id: flow.id,
      sandboxId: flow.sandbox_id,
      destinationId: flow.destination_id,
      status: flow.status,
      mapping,
      rowKeys,
      maxBatchAgeSeconds: flow.max_batch_age_seconds,
      cadenceMode: flow.cadence_mode,
      cadenceWindowSeconds: flow.cadence_window_seconds,
      onAudienceRemoval: flow.on_audience_removal,
      consent,
      audiences: audiences
        .filter((a) => a.dataflow_id === flow.id)
        .map((a) => ({
          id: a.id,
          dataflowId: a.dataflow_id,
          segmentId: a.segment_id,
          mappingName: a.mapping_name,
          startAt: a.start_date,
          endAt: a.end_date,
          ttlDays: a.ttl_days,
          existingXAudienceId: a.existing_x_audience_id,
          extraConsent: extraConsent(a.segment_labels),
        })),
    };
  });
  return {
    sandboxId,
    rows,
    dataflows,
    ...keyingOf(sandbox, defaultKeyNamespaces),
  };
}

/**
 * How a sandbox row keys profiles: the context's key namespaces, those of a re-keying in progress, the generation,
 * whether later key namespaces' ids are looked up.
 */
function keyingOf(
  sandbox: SandboxSettings | undefined,
  defaultKeyNamespaces: readonly string[],
): Pick<SandboxContext, 'keyNamespaces' | 'previousKeyNamespaces' | 'keyGeneration' | 'keyAliases'> {
  return {
    keyNamespaces: keyNamespacesOf(sandbox?.profile_key_namespaces, defaultKeyNamespaces),
    previousKeyNamespaces: rekeyOf(sandbox?.profile_key_rekey)?.from ?? null,
    keyGeneration: sandbox?.profile_key_generation ?? 0,
    // Without a sandbox row nothing can record the first such profile: look, always.
    keyAliases: sandbox === undefined || sandbox.profile_key_aliases === 1,
  };
}

/**
 * The namespaces profile keys come from (upper case), from a sandbox's `profile_key_namespaces` JSON; null or empty:
 * the defaults. One key per profile serves the whole sandbox: the per-profile state backs every dataflow.
 */
export function keyNamespacesOf(json: string | null | undefined, defaults: readonly string[]): string[] {
  const chosen = json ? (JSON.parse(json) as string[]) : [];
  return (chosen.length > 0 ? chosen : defaults).map((ns) => ns.toUpperCase());
}

/**
 * The sandbox's profile key namespaces as they stand now, read inside the writer's transaction, to check that a batch
 * evaluated under `context` still keys profiles the same way (the namespaces, the generation and the re-keying in
 * progress; they change rarely, but a batch may have been evaluated before). `shareLock` as in `loadSandboxContext`.
 */
export async function sameKeyNamespaces(
  db: Db,
  context: SandboxContext,
  defaultKeyNamespaces: readonly string[],
  options: { shareLock?: boolean } = {},
): Promise<boolean> {
  const sandbox = await sandboxSettings(db, context.sandboxId, options.shareLock === true);
  return sameSettings(sandbox, context, defaultKeyNamespaces);
}

function sameSettings(
  sandbox: SandboxSettings | undefined,
  context: SandboxContext,
  defaultKeyNamespaces: readonly string[],
): boolean {
  const current = keyingOf(sandbox, defaultKeyNamespaces);
  return sameKeys(current, context) && current.keyAliases === context.keyAliases;
}

/**
 * Whether two contexts give every profile the same key: the same namespaces, generation and re-keying in progress
 * (whether they look later namespaces' ids up aside).
 */
export function sameKeys(
  a: Pick<SandboxContext, 'keyNamespaces' | 'keyGeneration' | 'previousKeyNamespaces'>,
  b: Pick<SandboxContext, 'keyNamespaces' | 'keyGeneration' | 'previousKeyNamespaces'>,
): boolean {
  return (
    a.keyNamespaces.join() === b.keyNamespaces.join() &&
    a.keyGeneration === b.keyGeneration &&
    a.previousKeyNamespaces?.join() === b.previousKeyNamespaces?.join()
  );
}

/** What the consent policies demand of each dataflow and audience: equal stamps mean equal consent decisions. */
export function consentStamp(context: SandboxContext): string {
  return JSON.stringify(
    context.dataflows.map((d) => [
      d.id,
      d.consent,
      d.audiences.filter((a) => a.extraConsent.length > 0).map((a) => [a.id, a.extraConsent]),
    ]),
  );
}

/** A sandbox's settings (undefined: no such sandbox), optionally share-locking its row. */
async function sandboxSettings(
  db: Db,
  sandboxId: string,
  shareLock: boolean,
): Promise<SandboxSettings | undefined> {
  const query = db
    .selectFrom('sandboxes')
    .select([
      'profile_key_namespaces',
      'profile_key_generation',
      'profile_key_rekey',
      'profile_key_aliases',
      'consent_policies',
      'field_labels',
    ])
    .where('id', '=', sandboxId);
  return shareLock ? query.forShare().executeTakeFirst() : query.executeTakeFirst();
}

/** `sameKeyNamespaces` on SQLite's connection (synchronous, inside the caller's transaction). */
export function sameKeyNamespacesSqlite(
  database: BetterSqlite3.Database,
  context: SandboxContext,
  defaultKeyNamespaces: readonly string[],
): boolean {
  return sameSettings(
    contextStatementsOf(database).sandbox.get(context.sandboxId),
    context,
    defaultKeyNamespaces,
  );
}

/**
 * Loads the sandbox's tracked dataflows, their live audiences, the union of their mapping rows and its profile key
 * namespaces. `shareLock` (PostgreSQL, inside a transaction) holds the sandbox row until the transaction ends, so a
 * change of the key namespaces waits for writes made under the old ones (and then sees their profiles).
 */
export async function loadSandboxContext(
  db: Db,
  sandboxId: string,
  defaultKeyNamespaces: readonly string[],
  options: { shareLock?: boolean } = {},
): Promise<SandboxContext> {
  const sandbox = await sandboxSettings(db, sandboxId, options.shareLock === true);
  const flows = await db
    .selectFrom('dataflows as f')
    .leftJoin('destinations as d', 'd.id', 'f.destination_id')
    .selectAll('f')
    .select('d.marketing_actions')
    .where('f.sandbox_id', '=', sandboxId)
    .where('f.status', 'in', [...TRACKED_DATAFLOW_STATUSES])
    .orderBy('f.created_at')
    .orderBy('f.id')
    .execute();
  const audiences =
    flows.length === 0
      ? []
      : await db
          .selectFrom('dataflow_audiences as a')
          .leftJoin('segments as s', (join) =>
            join.onRef('s.sandbox_id', '=', 'a.sandbox_id').onRef('s.id', '=', 'a.segment_id'),
          )
          .selectAll('a')
          .select('s.labels as segment_labels')
          .where('a.sandbox_id', '=', sandboxId)
          .where(
            'a.dataflow_id',
            'in',
            flows.map((f) => f.id),
          )
          .where('a.state', 'not in', [...REMOVED_AUDIENCE_STATES])
          .orderBy('a.created_at')
          .orderBy('a.id')
          .execute();
  return buildSandboxContext(sandboxId, flows, audiences, sandbox, defaultKeyNamespaces);
}

const TRACKED_SQL = TRACKED_DATAFLOW_STATUSES.map((s) => `'${s}'`).join(', ');
const REMOVED_SQL = REMOVED_AUDIENCE_STATES.map((s) => `'${s}'`).join(', ');

interface ContextStatements {
  sandbox: BetterSqlite3.Statement<[string], SandboxSettings>;
  flows: BetterSqlite3.Statement<[string], FlowRow>;
  audiences: BetterSqlite3.Statement<[string, string], AudienceRow>;
}

const contextStatements = new WeakMap<BetterSqlite3.Database, ContextStatements>();

/** The context's prepared statements on a connection, compiled once. */
function contextStatementsOf(database: BetterSqlite3.Database): ContextStatements {
  let st = contextStatements.get(database);
  if (!st) {
    st = {
      sandbox: database.prepare(
        `select profile_key_namespaces, profile_key_generation, profile_key_rekey, profile_key_aliases, consent_policies,
           field_labels
         from sandboxes where id = ?`,
      ),
      flows: database.prepare(
        `select f.id, f.sandbox_id, f.destination_id, f.status, f.mapping, f.max_batch_age_seconds, f.cadence_mode,
           f.cadence_window_seconds, f.on_audience_removal, d.marketing_actions
         from dataflows f left join destinations d on d.id = f.destination_id
         where f.sandbox_id = ? and f.status in (${TRACKED_SQL}) order by f.created_at, f.id`,
      ),
      audiences: database.prepare(
        `select a.id, a.dataflow_id, a.segment_id, a.mapping_name, a.start_date, a.end_date, a.ttl_days,
           a.existing_x_audience_id, s.labels as segment_labels
         from dataflow_audiences a left join segments s on s.sandbox_id = a.sandbox_id and s.id = a.segment_id
         where a.sandbox_id = ? and a.state not in (${REMOVED_SQL})
           and a.dataflow_id in (select id from dataflows where sandbox_id = ? and status in (${TRACKED_SQL}))
         order by a.created_at, a.id`,
      ),
    };
    contextStatements.set(database, st);
  }
  return st;
}

/**
 * `loadSandboxContext` on SQLite's connection with prepared statements (synchronous, so it can run inside the
 * caller's `exclusive` section): same rows, same order.
 */
export function loadSandboxContextSqlite(
  database: BetterSqlite3.Database,
  sandboxId: string,
  defaultKeyNamespaces: readonly string[],
): SandboxContext {
  const st = contextStatementsOf(database);
  const flows = st.flows.all(sandboxId);
  const audiences = flows.length === 0 ? [] : st.audiences.all(sandboxId, sandboxId);
  return buildSandboxContext(sandboxId, flows, audiences, st.sandbox.get(sandboxId), defaultKeyNamespaces);
}

/** True when the audience exports at `now`. */
export function audienceActive(audience: AudienceContext, now: number): boolean {
  return isScheduleActive({ startAt: audience.startAt, endAt: audience.endAt }, now);
}
