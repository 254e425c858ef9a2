import type BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { parseProfileExport } from '../profile/index.ts';
import type { ProfileExport } from '../profile/index.ts';
import type { Store } from '../store/index.ts';
import {
  audienceActive,
  loadSandboxContext,
  loadSandboxContextSqlite,
  sameKeyNamespacesSqlite,
  type AudienceContext,
  type DataflowContext,
  type SandboxContext,
} from './dataflow-context.ts';
import { groupCommit } from './group-commit.ts';
import { writeDesired, type DesiredWrite } from './ledger-writes.ts';
import { EngineError } from './errors.ts';
import { CONSENT_KEY_PREFIX, failedRequirement } from '../audience/consent.ts';
import {
  EXCLUSION_CODES,
  evaluateProfile,
  evaluationFingerprint,
  rejectionsFor,
  usersOf,
  type ProfileEvaluation,
  type RowValues,
} from './profile-state.ts';
import { RunCounters } from './run-counters.ts';
import {
  chunkRows,
  chunksOf,
  lockSandboxProfiles,
  retryTransientConflicts,
  unnestRows,
  type Db,
} from './sql-helpers.ts';
import { sqliteStatements, type SqliteStatements } from './sqlite-statements.ts';
import { hashPrefix } from '../store/hash-prefix.ts';
import { sha256Hex } from '../identity/sha256-hex.ts';

export interface IngestOptions {
  sandboxId: string;
  /** Idempotency key: a request id already accepted returns its first result and changes nothing. */
  requestId?: string | undefined;
  /**
   * A digest of the request's content (e.g. SHA-256 of its decoded body), kept with `requestId`: the id sent again
   * with another digest fails with `conflict` and writes nothing. Without it, the digest of `items` is used.
   */
  requestDigest?: string | undefined;
  /**
   * Profiles evaluated already (e.g. on a worker thread) under the mapping whose `evaluationFingerprint` is given;
   * `items` is then ignored. When the sandbox's mapping has changed since, the call fails with `context_changed`
   * and writes nothing: evaluate again with the current mapping.
   */
  evaluated?: { evaluations: ProfileEvaluation[]; fingerprint: string };
}

/** Evaluations that do not fit the sandbox's current context: the caller evaluates them again. */
function contextChanged(message: string): EngineError {
  return new EngineError('context_changed', message, {
    hint: 'Evaluate the batch again with the current mapping',
  });
}

/**
 * The first result of a request id accepted before, or a `conflict` when it came with other content (a request kept
 * before digests were has none, and matches).
 */
function repeatedRequest(
  requestId: string,
  seen: { result: string; digest: string | null },
  digest: string | null,
): IngestResult {
  if (seen.digest !== null && digest !== null && seen.digest !== digest)
    throw new EngineError('conflict', `Request "${requestId}" was accepted before with other content`, {
      hint: 'Send new profiles under a new request id; a retry sends the same content as the first time',
      details: [{ path: 'requestId', reason: 'used before with other content' }],
    });
  return { ...(JSON.parse(seen.result) as IngestResult), duplicate: true };
}

/** Errors of `keyAliasesNeeded`, told apart from other `context_changed` errors. */
const aliasErrors = new WeakSet<EngineError>();

/**
 * A batch holding a profile keyed by a later key namespace (`ProfileEvaluation.laterKey`), evaluated while the
 * sandbox did not look for such keys (`SandboxContext.keyAliases`): it writes nothing. The caller records that the
 * sandbox may hold them (`enableKeyAliases`) and evaluates the batch again, so that it and every export after it look
 * their later namespaces' ids up.
 */
function keyAliasesNeeded(): EngineError {
  const error = contextChanged('The batch holds the first profile keyed by a later key namespace');
  aliasErrors.add(error);
  return error;
}

/** Whether `error` is a batch's `keyAliasesNeeded`. */
export function isKeyAliasesNeeded(error: unknown): boolean {
  return error instanceof EngineError && aliasErrors.has(error);
}

/** Checks, before a batch writes anything, that its profiles' keys can be written under `context`. */
function checkKeyAliases(context: SandboxContext, evaluations: readonly ProfileEvaluation[]): void {
  if (!context.keyAliases && evaluations.some((e) => e.laterKey)) throw keyAliasesNeeded();
}

/** Records that the sandbox may hold profiles keyed by a later key namespace (see `keyAliasesNeeded`). */
export async function enableKeyAliases(store: Store, sandboxId: string): Promise<void> {
  await store.db
    .updateTable('sandboxes')
    .set({ profile_key_aliases: 1 })
    .where('id', '=', sandboxId)
    .execute();
}

/** The sandbox's profile key namespaces changed after the batch's context was read. */
export function keyNamespacesChanged(): EngineError {
  return contextChanged("The sandbox's profile key namespaces changed while the batch was evaluated");
}

/** A profile that could not be read, with the JSON paths of what is wrong. */
export interface RejectedProfile {
  index: number;
  errors: Array<{ path: string; reason: string }>;
}

export interface IngestResult {
  requestId: string | null;
  /** True when `requestId` had been accepted before: nothing was written this time. */
  duplicate: boolean;
  received: number;
  /** Profiles read and applied (those not in `rejected`). */
  accepted: number;
  rejected: RejectedProfile[];
  /**
   * Identities left out, per reason code: each rejected identity under its code, and a whole profile once under
   * `no_mappable_identifier` (no identity the mapping reads), `consent_denied` or `segment_namespace_not_supported`.
   * Counted per audience that takes the profile and summed over the dataflows (a profile in the audiences of two
   * dataflows counts twice), as the runs count them.
   */
  excluded: Record<string, number>;
  /** Ledger entries whose desired state this batch set. */
  ledgerWrites: number;
}

interface StoredProfile {
  segments: Set<string>;
  /** Stored `identities` text (canonical JSON of the row values). */
  text: string;
}

/** A profile's stored row as read before the batch: a rewrite to the same texts is skipped. */
interface LoadedProfile extends StoredProfile {
  id: number;
  segmentsText: string;
  /** The key generation it was last met under (see `SandboxContext.keyGeneration`). */
  keyGen: number;
}

function loadedProfile(id: number, identities: string, segments: string, keyGen = 0): LoadedProfile {
  return {
    id,
    keyGen,
    segments: new Set(JSON.parse(segments) as string[]),
    text: identities,
    segmentsText: segments,
  };
}

function emptyResult(requestId: string | null, received: number): IngestResult {
  return { requestId, duplicate: false, received, accepted: 0, rejected: [], excluded: {}, ledgerWrites: 0 };
}

/** Validates each item; bad ones are listed with their JSON paths and never fail their neighbours. */
function parseItems(items: readonly unknown[], result: IngestResult): ProfileExport[] {
  const profiles: ProfileExport[] = [];
  items.forEach((item, index) => {
    const parsed = parseProfileExport(item);
    if (parsed.ok) profiles.push(parsed.profile);
    else
      result.rejected.push({ index, errors: parsed.errors.map((e) => ({ path: e.path, reason: e.reason })) });
  });
  result.accepted = profiles.length;
  return profiles;
}

/** Reads stored profile states for a set of keys (PostgreSQL). */
async function loadProfiles(db: Db, sandboxId: string, keys: string[]): Promise<Map<string, LoadedProfile>> {
  const found = new Map<string, LoadedProfile>();
  for (const chunk of chunksOf(keys, 10_000)) {
    const rows = await db
      .selectFrom('engine_profiles')
      .select(['id', 'profile_key', 'identities', 'segments', 'key_gen'])
      .where('sandbox_id', '=', sandboxId)
      .where('profile_key', '=', sql<string>`any(cast(${sql.val(chunk)} as text[]))`)
      .execute();
    for (const row of rows)
      found.set(row.profile_key, loadedProfile(row.id, row.identities, row.segments, row.key_gen));
  }
  return found;
}

/**
 * A re-keyed sandbox: profiles of the batch not found under their keys are looked for under the keys they had before
 * (`previousKey`); each one found that an older key generation left is adopted (its row takes the new key and the
 * current generation) and joins `stored` under the new key. A row is adopted once, by the first profile naming it.
 */
async function adoptPreviousKeys(
  db: Db,
  store: Store,
  context: SandboxContext,
  evaluations: readonly ProfileEvaluation[],
  stored: Map<string, LoadedProfile>,
): Promise<void> {
  const unknown = (e: ProfileEvaluation) => e.key !== null && e.previousKey !== null && !stored.has(e.key);
  const previousKeys = [...new Set(evaluations.filter(unknown).map((e) => e.previousKey!))];
  if (previousKeys.length === 0) return;
  const generation = context.keyGeneration;
  const old = await loadProfiles(db, context.sandboxId, previousKeys);
  for (const evaluation of evaluations) {
    if (!unknown(evaluation)) continue;
    const profile = old.get(evaluation.previousKey!);
    if (!profile || profile.keyGen >= generation) continue;
    old.delete(evaluation.previousKey!);
    if (await adoptRow(db, profile.id, evaluation.previousKey!, evaluation.key!, generation))
      stored.set(evaluation.key!, { ...profile, keyGen: generation });
  }
}

/**
 * Moves the profile row `id` from key `from` to `key` in key generation `generation`; false when a concurrent batch
 * moved it first (the update is keyed on `from` too, so it then changes nothing).
 */
async function adoptRow(db: Db, id: number, from: string, key: string, generation: number): Promise<boolean> {
  const result = await db
    .updateTable('engine_profiles')
    .set({ profile_key: key, key_gen: generation })
    .where('id', '=', id)
    .where('profile_key', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Applies a batch of profile exports in one transaction: per-profile state (memberships and mapped identity hashes,
 * independent of dataflows) and the desired state of every affected ledger entry, plus the run counters. When it
 * resolves, the batch is durable.
 */
export async function ingestProfiles(
  store: Store,
  items: readonly unknown[],
  options: IngestOptions,
  env: { now: number; defaultKeyNamespaces: readonly string[] },
): Promise<IngestResult> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await ingestOnce(store, items, options, env);
    } catch (error) {
      if (!isKeyAliasesNeeded(error) || attempt >= 3) throw error;
      await enableKeyAliases(store, options.sandboxId);
      // Evaluated elsewhere: evaluated again there, under the context that looks for the aliases.
      if (options.evaluated) throw error;
    }
  }
}

async function ingestOnce(
  store: Store,
  items: readonly unknown[],
  options: IngestOptions,
  env: { now: number; defaultKeyNamespaces: readonly string[] },
): Promise<IngestResult> {
  const { sandboxId } = options;
  const requestId = options.requestId ?? null;
  const digest =
    requestId === null
      ? null
      : (options.requestDigest ?? (options.evaluated ? null : sha256Hex(JSON.stringify(items))));
  const now = env.now;

  const { evaluated } = options;
  const evaluationsFor = (context: SandboxContext, profiles: readonly ProfileExport[]) => {
    if (!evaluated) return evaluateBatch(store, context, profiles);
    if (evaluationFingerprint(context) !== evaluated.fingerprint)
      throw contextChanged("The sandbox's mapping changed while the batch was evaluated");
    return evaluated.evaluations;
  };
  const received = evaluated ? evaluated.evaluations.length : items.length;
  // Profiles to evaluate here: none when they come evaluated.
  const profilesOf = (result: IngestResult): ProfileExport[] => {
    if (!evaluated) return parseItems(items, result);
    result.accepted = received;
    return [];
  };

  if (store.sqlite) {
    // On the connection: the context through prepared statements and the mapping and hashing before the
    // transaction, then the writes with prepared statements in a transaction shared with concurrent ingests.
    const result = emptyResult(requestId, received);
    const profiles = profilesOf(result);
    return groupCommit(store.sqlite, {
      prepare: (database) => {
        const context = loadSandboxContextSqlite(database, sandboxId, env.defaultKeyNamespaces);
        return { context, evaluations: evaluationsFor(context, profiles) };
      },
      write: (database, { context, evaluations }): IngestResult => {
        if (!sameKeyNamespacesSqlite(database, context, env.defaultKeyNamespaces))
          throw keyNamespacesChanged();
        const st = sqliteStatements(database);
        if (requestId !== null) {
          const seen = st.selectRequest.get(sandboxId, requestId);
          if (seen) return repeatedRequest(requestId, seen, digest);
        }
        // Built afresh on every run: a group that failed runs its units again.
        const written: IngestResult = { ...result, excluded: {} };
        written.ledgerWrites = applyEvaluationsSqlite(database, context, evaluations, now, written.excluded);
        if (requestId !== null)
          st.insertRequest.run(sandboxId, requestId, JSON.stringify(written), now, digest);
        return written;
      },
    });
  }

  // Built afresh on every run: a run that PostgreSQL rolled back for a deadlock with another process's runs again.
  const ingested = await retryTransientConflicts(() =>
    store.transaction(async (tx) => {
      const db = tx.db as unknown as Db;
      // Before the sandbox's row lock below, as every transaction that takes both (see `lockSandboxProfiles`).
      await lockSandboxProfiles(db, store.capabilities, sandboxId);
      if (requestId !== null) {
        const seen = await db
          .selectFrom('engine_ingest_requests')
          .select(['result', 'digest'])
          .where('sandbox_id', '=', sandboxId)
          .where('request_id', '=', requestId)
          .executeTakeFirst();
        if (seen) return repeatedRequest(requestId, seen, digest);
      }

      // Held until commit: a change of the sandbox's key namespaces waits for this batch, then sees its profiles.
      const context = await loadSandboxContext(db, sandboxId, env.defaultKeyNamespaces, { shareLock: true });
      const result = emptyResult(requestId, received);
      const evaluations = evaluationsFor(context, profilesOf(result));
      result.ledgerWrites = await applyEvaluations(db, store, context, evaluations, now, result.excluded);

      if (requestId !== null) {
        await db
          .insertInto('engine_ingest_requests')
          .values({
            sandbox_id: sandboxId,
            request_id: requestId,
            result: JSON.stringify(result),
            created_at: now,
            digest,
          })
          .execute();
      }
      return result;
    }),
  );
  // Each accepted profile was written (or found unchanged).
  if (!ingested.duplicate)
    await store.statistics.wrote({
      engine_profiles: ingested.accepted,
      engine_ledger: ingested.ledgerWrites,
    });
  return ingested;
}

export interface ApplyExtra {
  /** Mirror import: every profile is a member of this segment unless it says otherwise. */
  forceMember?: string;
  /** Called with each profile key applied. */
  seen?: (key: string) => void;
}

/** Maps and hashes a batch (pure: no database), ready for `applyEvaluations`. */
export function evaluateBatch(
  store: Store,
  context: SandboxContext,
  profiles: readonly ProfileExport[],
  extra: ApplyExtra = {},
): ProfileEvaluation[] {
  return profiles.map((profile) =>
    adjustEvaluation(evaluateProfile(profile, context, store.profileKeyHash), extra),
  );
}

/** Applies `extra`'s forced membership to an evaluation. */
export function adjustEvaluation(evaluation: ProfileEvaluation, extra: ApplyExtra): ProfileEvaluation {
  if (extra.forceMember !== undefined && !evaluation.memberships.has(extra.forceMember)) {
    evaluation.memberships.set(extra.forceMember, true);
  }
  return evaluation;
}

/** A desired-state write for a profile, by profile key (its ledger member is the profile's id, known once written). */
interface KeyedWrite {
  audienceId: string;
  key: string;
  desired: string | null;
}

interface BatchPlan {
  /** Profiles whose stored texts change (new ones included). */
  profileRows: Array<{ key: string; identities: string; segments: string }>;
  writes: KeyedWrite[];
  counters: RunCounters;
}

/** A profile's state as planning leaves it: its segments and its identities text, with the texts stored. */
interface PlannedProfile extends StoredProfile {
  segmentsText: string;
}

/**
 * Plans profiles one at a time, in batch order: each one's new state and ledger writes, and the run counters and
 * exclusions of all of them.
 */
class ProfilePlanner {
  readonly #counters = new RunCounters();
  // Profiles received per dataflow and per audience, counted here and added to the counters once.
  readonly #receivedBy = new Map<DataflowContext | AudienceContext, number>();
  readonly #context: SandboxContext;
  readonly #now: number;
  readonly #excluded: Record<string, number>;
  readonly #extra: ApplyExtra;

  constructor(context: SandboxContext, now: number, excluded: Record<string, number>, extra: ApplyExtra) {
    this.#context = context;
    this.#now = now;
    this.#excluded = excluded;
    this.#extra = extra;
  }

  #exclude(dataflowId: string, audienceId: string, code: string): void {
    const at = this.#now;
    this.#excluded[code] = (this.#excluded[code] ?? 0) + 1;
    this.#counters.add({ dataflowId, metric: 'identities_excluded', code, at });
    this.#counters.add({ dataflowId, audienceId, metric: 'identities_excluded', code, at });
  }

  /**
   * Plans one profile given its state before (undefined when new): calls `write` with each ledger write it makes (none
   * for a profile without a key) and returns its new state (null without a key).
   */
  plan(
    evaluation: ProfileEvaluation,
    previous: StoredProfile | undefined,
    write: (audienceId: string, desired: string | null) => void,
  ): PlannedProfile | null {
    const context = this.#context;
    // Evaluated under other dataflows (the fingerprint check catches this first): its users would not line up.
    if (evaluation.users.length !== context.dataflows.length)
      throw contextChanged('The profiles were evaluated for other dataflows');
    if (evaluation.key !== null) this.#extra.seen?.(evaluation.key);
    const segments = new Set(previous?.segments ?? []);
    for (const [segmentId, member] of evaluation.memberships) {
      if (member) segments.add(segmentId);
      else segments.delete(segmentId);
    }
    evaluation = keepStoredConsent(evaluation, previous, context);
    const identitiesChanged = previous !== undefined && previous.text !== evaluation.valuesText;
    // The profile's values, read only for an audience with consent requirements of its own.
    let values: RowValues | undefined;
    context.dataflows.forEach((dataflow, dataflowIndex) => {
      let received = false;
      // The same for every audience of the dataflow: computed at most once per profile.
      let codes: string[] | undefined;
      for (const audience of dataflow.audiences) {
        const foreign = evaluation.foreignSegments.includes(audience.segmentId);
        const mentioned = evaluation.memberships.has(audience.segmentId);
        if (foreign && !mentioned) {
          received = true;
          this.#exclude(dataflow.id, audience.id, EXCLUSION_CODES.segmentNamespace);
          continue;
        }
        const member = segments.has(audience.segmentId);
        if (!mentioned && !(identitiesChanged && (member || previous?.segments.has(audience.segmentId))))
          continue;
        received = true;
        this.#receivedBy.set(audience, (this.#receivedBy.get(audience) ?? 0) + 1);
        if (!audienceActive(audience, this.#now)) continue;
        let desired: string | null = null;
        if (member) {
          desired = evaluation.users[dataflowIndex]!;
          codes ??= rejectionsFor(dataflow, evaluation.rejections);
          for (const code of codes) this.#exclude(dataflow.id, audience.id, code);
          // A policy on a label of this audience's segment: its consent is checked here, not per dataflow.
          const deniedHere =
            desired !== null &&
            audience.extraConsent.length > 0 &&
            failedRequirement(
              audience.extraConsent,
              (values ??= JSON.parse(evaluation.valuesText) as RowValues),
            ) !== null;
          if (deniedHere) desired = null;
          if (desired === null) {
            const denied = deniedHere || evaluation.consentDenied.includes(dataflowIndex);
            // Each identity or profile is counted once. Identities the mapping rejected are counted by their codes
            // above, so a profile they leave with nothing to send is not counted again: `no_mappable_identifier` is a
            // profile with no identity the mapping reads at all, and `consent_denied` one that had some to send.
            if (codes.length === 0)
              this.#exclude(
                dataflow.id,
                audience.id,
                denied ? EXCLUSION_CODES.consentDenied : EXCLUSION_CODES.noIdentifier,
              );
            else if (
              denied &&
              (deniedHere ||
                mapsIdentifier(dataflow.rowKeys, (values ??= JSON.parse(evaluation.valuesText) as RowValues)))
            )
              this.#exclude(dataflow.id, audience.id, EXCLUSION_CODES.consentDenied);
          }
        }
        if (evaluation.key !== null) write(audience.id, desired);
      }
      if (received) this.#receivedBy.set(dataflow, (this.#receivedBy.get(dataflow) ?? 0) + 1);
    });
    if (evaluation.key === null) return null;
    return { segments, text: evaluation.valuesText, segmentsText: JSON.stringify([...segments].sort()) };
  }

  /**
   * A profile the source merged into another leaves the audiences of `segmentIds`, as an exit takes a member out
   * (identifiers the merged profile still holds stay at X, as any identifier another member wants does), and keeps its
   * other segments: every segment for a profile of another id in the key's namespace (see
   * `ProfileEvaluation.aliasKeys`), the segments the merged profile's export states for one of an id in a later key
   * namespace (see `ProfileEvaluation.laterAliasKeys`). Nothing is counted: it was not received. Null when it was in
   * none of them.
   */
  leave(
    previous: StoredProfile,
    segmentIds: Iterable<string>,
    write: (audienceId: string, desired: string | null) => void,
  ): PlannedProfile | null {
    const segments = new Set(previous.segments);
    for (const segmentId of segmentIds) segments.delete(segmentId);
    if (segments.size === previous.segments.size) return null;
    for (const dataflow of this.#context.dataflows)
      for (const audience of dataflow.audiences)
        if (
          previous.segments.has(audience.segmentId) &&
          !segments.has(audience.segmentId) &&
          audienceActive(audience, this.#now)
        )
          write(audience.id, null);
    return { segments, text: previous.text, segmentsText: JSON.stringify([...segments].sort()) };
  }

  /** The run counters of every profile planned. */
  counters(): RunCounters {
    const at = this.#now;
    for (const [scope, value] of this.#receivedBy) {
      this.#counters.add(
        'audiences' in scope
          ? { dataflowId: scope.id, metric: 'profiles_received', value, at }
          : { dataflowId: scope.dataflowId, audienceId: scope.id, metric: 'profiles_received', value, at },
      );
    }
    this.#receivedBy.clear();
    return this.#counters;
  }
}

/** Whether a profile's values hold an identifier for one of a dataflow's mapping rows (`rowKeys`). */
function mapsIdentifier(rowKeys: readonly string[], values: RowValues): boolean {
  for (const key of rowKeys) if ((values[key]?.length ?? 0) > 0) return true;
  return false;
}

const CONSENT_MARK = `"${CONSENT_KEY_PREFIX}`;

/**
 * An export that says nothing about consent leaves the profile's stored consent as it was (a withdrawal is an export
 * with the value `n`, not one without the attribute): the stored consent values join the evaluation's, and each
 * dataflow's user is made again from them.
 */
function keepStoredConsent(
  evaluation: ProfileEvaluation,
  previous: StoredProfile | undefined,
  context: SandboxContext,
): ProfileEvaluation {
  if (!previous?.text.includes(CONSENT_MARK) || evaluation.valuesText.includes(CONSENT_MARK))
    return evaluation;
  const stored = JSON.parse(previous.text) as RowValues;
  const values = JSON.parse(evaluation.valuesText) as RowValues;
  for (const key in stored) if (key.startsWith(CONSENT_KEY_PREFIX)) values[key] = stored[key]!;
  return { ...evaluation, valuesText: JSON.stringify(values), ...usersOf(context.dataflows, values) };
}

/** Decides the new profile states and ledger writes of a batch, given the stored states of its profiles. */
function planBatch(
  evaluations: readonly ProfileEvaluation[],
  loaded: ReadonlyMap<string, LoadedProfile>,
  context: SandboxContext,
  now: number,
  excluded: Record<string, number>,
  extra: ApplyExtra,
  owners: ReadonlyMap<string, readonly string[]>,
): BatchPlan {
  const planner = new ProfilePlanner(context, now, excluded, extra);
  const ledger = new Map<string, KeyedWrite>();
  const profileRows = new Map<string, { identities: string; segments: string }>();
  // States as this batch leaves them (a key can occur more than once), starting from the stored ones.
  const stored = new Map<string, StoredProfile>(loaded);
  // The keys of the batch's profiles by the aliases they carry (see `owners`).
  const batchOwners = new Map<string, string[]>();
  // The ledger writes of the profile stored under `key`, the last for each audience.
  const writeFor = (key: string) => (audienceId: string, desired: string | null) =>
    void ledger.set(`${audienceId}\u0000${key}`, { audienceId, key, desired });
  // The profile stored under `alias` leaves the audiences of the segments `segmentsOf` names.
  const leave = (alias: string, segmentsOf: (other: StoredProfile) => Iterable<string>) => {
    const other = stored.get(alias);
    const left = other && planner.leave(other, segmentsOf(other), writeFor(alias));
    if (!left) return;
    stored.set(alias, left);
    profileRows.set(alias, { identities: left.text, segments: left.segmentsText });
  };
  for (const evaluation of evaluations) {
    const key = evaluation.key;
    // Without a key, `plan` writes nothing.
    const next = planner.plan(evaluation, key === null ? undefined : stored.get(key), writeFor(key ?? ''));
    if (key === null || next === null) continue;
    stored.set(key, next);
    profileRows.set(key, { identities: next.text, segments: next.segmentsText });
    // The other profiles it merged leave their audiences (see `ProfilePlanner.leave`).
    const stated = () => evaluation.memberships.keys();
    for (const alias of evaluation.aliasKeys) leave(alias, (other) => other.segments);
    if (context.keyAliases) for (const alias of evaluation.laterAliasKeys) leave(alias, stated);
    // Profiles that carried this key beside their own, stored or earlier in the batch, leave the segments it states.
    for (const owner of new Set([...(owners.get(key) ?? []), ...(batchOwners.get(key) ?? [])]))
      if (owner !== key) leave(owner, stated);
    for (const keys of [evaluation.aliasKeys, evaluation.laterAliasKeys])
      for (const alias of keys) batchOwners.set(alias, [...(batchOwners.get(alias) ?? []), key]);
  }
  const rows: BatchPlan['profileRows'] = [];
  for (const [key, row] of profileRows) {
    // Rewriting a profile to the texts it already has changes nothing anyone reads: leave its pages clean.
    const before = loaded.get(key);
    if (before?.text === row.identities && before.segmentsText === row.segments) continue;
    rows.push({ key, ...row });
  }
  return { profileRows: rows, writes: [...ledger.values()], counters: planner.counters() };
}

/** Ledger writes with their members: each profile's id, as text. */
function membersOf(writes: readonly KeyedWrite[], ids: ReadonlyMap<string, number>): DesiredWrite[] {
  return writes.map((w) => ({
    audienceId: w.audienceId,
    member: String(ids.get(w.key)!),
    desired: w.desired,
  }));
}

/**
 * The keys a batch's profiles are stored under, and those of profiles they merged (see `aliasKeys` and
 * `laterAliasKeys`).
 */
function keysOf(evaluations: readonly ProfileEvaluation[], keyAliases: boolean): string[] {
  const keys = new Set<string>();
  for (const e of evaluations) {
    if (e.key === null) continue;
    keys.add(e.key);
    for (const alias of e.aliasKeys) keys.add(alias);
    if (keyAliases) for (const alias of e.laterAliasKeys) keys.add(alias);
  }
  return [...keys];
}

/**
 * The profiles that carried a key of the batch beside their own (`engine_profile_aliases`; see `laterAliasKeys`):
 * their keys by that key, each profile joining `stored` under its own key. Nothing is read while the sandbox holds
 * no alias.
 */
async function loadAliasOwners(
  db: Db,
  sandboxId: string,
  evaluations: readonly ProfileEvaluation[],
  stored: Map<string, LoadedProfile>,
): Promise<Map<string, string[]>> {
  const owners = new Map<string, string[]>();
  const any = await db
    .selectFrom('engine_profile_aliases')
    .select('profile_id')
    .where('sandbox_id', '=', sandboxId)
    .limit(1)
    .executeTakeFirst();
  if (!any) return owners;
  const keys = [...new Set(evaluations.flatMap((e) => (e.key === null ? [] : [e.key])))];
  for (const chunk of chunksOf(keys, 10_000)) {
    const { rows } = await sql<{
      alias: string;
      id: number;
      profile_key: string;
      identities: string;
      segments: string;
      key_gen: number;
    }>`select a.alias, p.id, p.profile_key, p.identities, p.segments, p.key_gen
      from engine_profile_aliases a join engine_profiles p on p.id = a.profile_id
      where a.sandbox_id = ${sandboxId} and a.alias_prefix = any(cast(${sql.val(chunk.map(hashPrefix))} as bigint[]))
        and a.alias = any(cast(${sql.val(chunk)} as text[]))`.execute(db);
    for (const row of rows) {
      if (!stored.has(row.profile_key))
        stored.set(row.profile_key, loadedProfile(Number(row.id), row.identities, row.segments, row.key_gen));
      owners.set(row.alias, [...(owners.get(row.alias) ?? []), row.profile_key]);
    }
  }
  return owners;
}

/** Records the keys of each profile's other ids as its aliases (see `loadAliasOwners`). */
async function recordAliases(
  db: Db,
  sandboxId: string,
  evaluations: readonly ProfileEvaluation[],
  ids: ReadonlyMap<string, number>,
): Promise<void> {
  const rows = new Map<string, { alias: string; id: number }>();
  for (const e of evaluations) {
    const id = e.key === null ? undefined : ids.get(e.key);
    if (id === undefined) continue;
    for (const keys of [e.aliasKeys, e.laterAliasKeys])
      for (const alias of keys) rows.set(`${alias}\u0000${id}`, { alias, id });
  }
  for (const chunk of chunksOf([...rows.values()], 10_000))
    await sql`insert into engine_profile_aliases (sandbox_id, alias_prefix, alias, profile_id)
      select ${sandboxId}, v.alias_prefix, v.alias, v.profile_id
      from ${unnestRows('v', [
        ['alias_prefix', 'bigint', chunk.map((r) => hashPrefix(r.alias))],
        ['alias', 'text', chunk.map((r) => r.alias)],
        ['profile_id', 'bigint', chunk.map((r) => r.id)],
      ])}
      on conflict do nothing`.execute(db);
}

/**
 * Profiles of the batch not stored under their keys, but under the key of another of their ids (a profile the source
 * merged, met alone before): each such row is adopted under the profile's key (the first alias found), so the person
 * keeps one ledger member and X is sent only what changed. A row is adopted once, by the first profile naming it.
 */
async function adoptAliasKeys(
  db: Db,
  context: SandboxContext,
  evaluations: readonly ProfileEvaluation[],
  stored: Map<string, LoadedProfile>,
): Promise<void> {
  for (const evaluation of evaluations) {
    const key = evaluation.key;
    if (key === null || evaluation.aliasKeys.length === 0 || stored.has(key)) continue;
    const alias = evaluation.aliasKeys.find((k) => stored.has(k));
    if (alias === undefined) continue;
    const profile = stored.get(alias)!;
    if (!(await adoptRow(db, profile.id, alias, key, context.keyGeneration))) continue;
    stored.delete(alias);
    stored.set(key, { ...profile, keyGen: context.keyGeneration });
  }
}

/**
 * Applies evaluated profiles inside an open PostgreSQL transaction (SQLite has `applyEvaluationsSqlite`): per-profile
 * state, desired states and run counters, a statement per table for thousands of profiles. Returns the number of
 * ledger writes and adds exclusions to `excluded`.
 */
export async function applyEvaluations(
  db: Db,
  store: Store,
  context: SandboxContext,
  evaluations: readonly ProfileEvaluation[],
  now: number,
  excluded: Record<string, number>,
  extra: ApplyExtra = {},
): Promise<number> {
  checkKeyAliases(context, evaluations);
  const stored = await loadProfiles(db, context.sandboxId, keysOf(evaluations, context.keyAliases));
  await adoptPreviousKeys(db, store, context, evaluations, stored);
  await adoptAliasKeys(db, context, evaluations, stored);
  const owners = await loadAliasOwners(db, context.sandboxId, evaluations, stored);
  const plan = planBatch(evaluations, stored, context, now, excluded, extra, owners);
  const generation = context.keyGeneration;
  const ids = new Map<string, number>();
  for (const [key, profile] of stored) ids.set(key, profile.id);
  for (const chunk of chunksOf(plan.profileRows, 10_000)) {
    const { rows } = await sql<{
      id: number;
      profile_key: string;
    }>`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at, key_gen)
      select ${context.sandboxId}, v.profile_key, v.identities, v.segments, cast(${now} as bigint), cast(${generation} as integer)
      from ${unnestRows('v', [
        ['profile_key', 'text', chunk.map((r) => r.key)],
        ['identities', 'text', chunk.map((r) => r.identities)],
        ['segments', 'text', chunk.map((r) => r.segments)],
      ])}
      on conflict (sandbox_id, profile_key) do update set identities = excluded.identities, segments = excluded.segments,
      updated_at = excluded.updated_at, key_gen = excluded.key_gen
      returning id, profile_key`.execute(db);
    for (const row of rows) ids.set(row.profile_key, Number(row.id));
  }
  // Met under the current keys (a CSV row's key, or one no namespace change touched): no longer left to adopt.
  const behind = [...stored.values()].filter((p) => p.keyGen < generation).map((p) => p.id);
  for (const chunk of chunkRows(behind, 1, store.capabilities, 1000))
    await db.updateTable('engine_profiles').set({ key_gen: generation }).where('id', 'in', chunk).execute();
  await writeDesired(db, store.capabilities, membersOf(plan.writes, ids), now);
  await recordAliases(db, context.sandboxId, evaluations, ids);
  await plan.counters.write(db, store.capabilities);
  return plan.writes.length;
}

/** Writes one ledger member's desired states (audience, user or null) with SQLite's prepared statement. */
function upsertLedgerSqlite(
  st: SqliteStatements,
  member: string,
  writes: ReadonlyArray<readonly [audienceId: string, desired: string | null]>,
  now: number,
): void {
  for (const [audienceId, desired] of writes) {
    const pending = desired === null ? 0 : 1;
    st.upsertDesired.run(audienceId, member, desired, pending, pending ? now : null, now);
  }
}

/**
 * `applyEvaluations` on SQLite's connection with prepared statements; call inside `database.transaction`. Profiles
 * are looked up, planned and written one at a time (a key met again in the batch reads what the batch wrote), so no
 * batch-wide state outlives its profile. Returns the ledger writes made, a repeated profile's each time.
 */
export function applyEvaluationsSqlite(
  database: BetterSqlite3.Database,
  context: SandboxContext,
  evaluations: readonly ProfileEvaluation[],
  now: number,
  excluded: Record<string, number>,
  extra: ApplyExtra = {},
): number {
  checkKeyAliases(context, evaluations);
  const st = sqliteStatements(database);
  const planner = new ProfilePlanner(context, now, excluded, extra);
  const sandboxId = context.sandboxId;
  const generation = context.keyGeneration;
  const writes: Array<[audienceId: string, desired: string | null]> = [];
  const collect = (audienceId: string, desired: string | null) => void writes.push([audienceId, desired]);
  let written = 0;
  // Whether a profile of the sandbox may have carried another's key as an alias (then each key is looked up there).
  let aliased = st.anyAlias.get(sandboxId) !== undefined;
  // The profile `row` leaves the audiences of its own segments, or (`stated`) of the segments an export states: its
  // row and ledger. Neither takes a callback: a closure made per profile costs more than the call on this hot path.
  const leaveRow = (
    row: { id: number; identities: string; segments: string } | undefined,
    stated: ProfileEvaluation | null,
  ) => {
    if (!row || row.segments === '[]') return;
    const other = loadedProfile(row.id, row.identities, row.segments);
    writes.length = 0;
    const left = planner.leave(other, stated === null ? other.segments : stated.memberships.keys(), collect);
    if (!left) return;
    st.updateProfile.run(left.text, left.segmentsText, now, row.id);
    upsertLedgerSqlite(st, String(row.id), writes, now);
    written += writes.length;
  };
  const leave = (alias: string, stated: ProfileEvaluation | null) =>
    leaveRow(st.selectProfile.get(hashPrefix(alias), sandboxId, alias), stated);
  for (const evaluation of evaluations) {
    const key = evaluation.key;
    if (key === null) {
      planner.plan(evaluation, undefined, collect);
      continue;
    }
    const prefix = hashPrefix(key);
    let row = st.selectProfile.get(prefix, sandboxId, key);
    if (!row && evaluation.previousKey !== null) {
      // A re-keyed sandbox: the profile may be known under the key it had before, and is adopted under this one.
      const old = st.selectProfile.get(hashPrefix(evaluation.previousKey), sandboxId, evaluation.previousKey);
      if (old && old.key_gen < generation) {
        st.adoptProfile.run(key, prefix, generation, old.id);
        row = { ...old, key_gen: generation };
      }
    }
    // The merged profiles' keys looked up already: none is stored under them (the last one's row, if any, adopted).
    let looked = 0;
    if (!row) {
      // A profile the source merged, met alone before under another of its ids: adopted under this key.
      while (looked < evaluation.aliasKeys.length) {
        const alias = evaluation.aliasKeys[looked++]!;
        const found = st.selectProfile.get(hashPrefix(alias), sandboxId, alias);
        if (!found) continue;
        st.adoptProfile.run(key, prefix, generation, found.id);
        row = { ...found, key_gen: generation };
        break;
      }
    }
    const previous = row ? loadedProfile(row.id, row.identities, row.segments) : undefined;
    writes.length = 0;
    const next = planner.plan(evaluation, previous, collect)!;
    let id: number;
    if (!row)
      id = Number(
        st.insertProfile.run(sandboxId, key, prefix, next.text, next.segmentsText, now, generation)
          .lastInsertRowid,
      );
    else {
      id = row.id;
      // Met under the current keys (a CSV row's key, or one no namespace change touched): no longer left to adopt.
      if (row.key_gen < generation) st.setKeyGeneration.run(generation, id);
      // Rewriting a profile to the texts it already has changes nothing anyone reads: leave its pages clean.
      if (row.identities !== next.text || row.segments !== next.segmentsText)
        st.updateProfile.run(next.text, next.segmentsText, now, id);
    }
    upsertLedgerSqlite(st, String(id), writes, now);
    written += writes.length;
    // The other profiles it merged leave their audiences (see `ProfilePlanner.leave`).
    for (let i = looked; i < evaluation.aliasKeys.length; i += 1) leave(evaluation.aliasKeys[i]!, null);
    if (context.keyAliases) for (const alias of evaluation.laterAliasKeys) leave(alias, evaluation);
    // Profiles that carried this one's key beside their own (an ECID-keyed profile, for a CRM id exported alone) leave
    // the segments this export states, which this profile speaks for now.
    if (aliased)
      for (const { profile_id: owner } of st.selectAliasOwners.all(prefix, sandboxId, key))
        if (owner !== id) leaveRow(st.selectProfileById.get(owner), evaluation);
    for (const keys of [evaluation.aliasKeys, evaluation.laterAliasKeys])
      for (const alias of keys) {
        st.insertAlias.run(sandboxId, id, alias, hashPrefix(alias));
        aliased = true;
      }
  }
  planner.counters().writeSqlite(st);
  return written;
}
