import { sql } from 'kysely';
import { parseProfileExport } from '../profile/index.ts';
import type { ProfileExport } from '../profile/index.ts';
import type { Store } from '../store/index.ts';
import { audienceActive, loadSandboxContext, type SandboxContext } from './dataflow-context.ts';
import { writeDesired, type DesiredWrite } from './ledger-writes.ts';
import { EXCLUSION_CODES, evaluateProfile, rejectionsFor, userFor, type RowValues } from './profile-state.ts';
import { RunCounters } from './run-counters.ts';
import { chunkRows, type Db } from './sql-helpers.ts';

export interface IngestOptions {
  sandboxId: string;
  /** Idempotency key: a request id already accepted returns its first result and changes nothing. */
  requestId?: string | undefined;
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
  /** Identities (or whole profiles, for `no_mappable_identifier`) left out, per reason code. */
  excluded: Record<string, number>;
  /** Ledger entries whose desired state this batch set. */
  ledgerWrites: number;
}

interface StoredProfile {
  values: RowValues;
  segments: Set<string>;
  text: string;
}

/** Reads stored profile states for a set of keys. */
async function loadProfiles(db: Db, store: Store, sandboxId: string, keys: string[]): Promise<Map<string, StoredProfile>> {
  const found = new Map<string, StoredProfile>();
  for (const chunk of chunkRows(keys, 1, store.capabilities, 1000)) {
    const rows = await db
      .selectFrom('engine_profiles')
      .select(['profile_key', 'identities', 'segments'])
      .where('sandbox_id', '=', sandboxId)
      .where('profile_key', 'in', chunk)
      .execute();
    for (const row of rows) {
      found.set(row.profile_key, {
        values: JSON.parse(row.identities) as RowValues,
        segments: new Set(JSON.parse(row.segments) as string[]),
        text: row.identities,
      });
    }
  }
  return found;
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
  const { sandboxId } = options;
  const requestId = options.requestId ?? null;
  const now = env.now;

  return store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    if (requestId !== null) {
      const seen = await db
        .selectFrom('engine_ingest_requests')
        .select('result')
        .where('sandbox_id', '=', sandboxId)
        .where('request_id', '=', requestId)
        .executeTakeFirst();
      if (seen) return { ...(JSON.parse(seen.result) as IngestResult), duplicate: true };
    }

    const context = await loadSandboxContext(db, sandboxId, env.defaultKeyNamespaces);
    const result: IngestResult = {
      requestId,
      duplicate: false,
      received: items.length,
      accepted: 0,
      rejected: [],
      excluded: {},
      ledgerWrites: 0,
    };
    const profiles: ProfileExport[] = [];
    items.forEach((item, index) => {
      const parsed = parseProfileExport(item);
      if (parsed.ok) profiles.push(parsed.profile);
      else result.rejected.push({ index, errors: parsed.errors.map((e) => ({ path: e.path, reason: e.reason })) });
    });
    result.accepted = profiles.length;

    const applied = await applyProfiles(db, store, context, profiles, now, result.excluded);
    result.ledgerWrites = applied;

    if (requestId !== null) {
      await db
        .insertInto('engine_ingest_requests')
        .values({ sandbox_id: sandboxId, request_id: requestId, result: JSON.stringify(result), created_at: now })
        .execute();
    }
    return result;
  });
}

/**
 * The core of ingest, inside an open transaction: returns the number of ledger writes and adds exclusions to
 * `excluded`. Also used by file import (which batches itself).
 */
export async function applyProfiles(
  db: Db,
  store: Store,
  context: SandboxContext,
  profiles: readonly ProfileExport[],
  now: number,
  excluded: Record<string, number>,
  extra: { forceMember?: string; seen?: (key: string) => void; keyOverrides?: ReadonlyArray<string | undefined> } = {},
): Promise<number> {
  const counters = new RunCounters();
  const exclude = (dataflowId: string, audienceId: string, code: string, value = 1) => {
    excluded[code] = (excluded[code] ?? 0) + value;
    counters.add({ dataflowId, metric: 'identities_excluded', code, value, at: now });
    counters.add({ dataflowId, audienceId, metric: 'identities_excluded', code, value, at: now });
  };

  const evaluations = profiles.map((profile, index) => {
    const evaluation = evaluateProfile(profile, context, store.profileKeyHash);
    const override = extra.keyOverrides?.[index];
    if (override !== undefined) evaluation.key = override;
    if (extra.forceMember !== undefined && !evaluation.memberships.has(extra.forceMember)) {
      evaluation.memberships.set(extra.forceMember, true);
    }
    return evaluation;
  });
  const keys = [...new Set(evaluations.map((e) => e.key).filter((k): k is string => k !== null))];
  const stored = await loadProfiles(db, store, context.sandboxId, keys);

  const ledger = new Map<string, DesiredWrite>();
  const profileRows = new Map<string, { identities: string; segments: string }>();

  for (const evaluation of evaluations) {
    if (evaluation.key !== null) extra.seen?.(evaluation.key);
    const previous = evaluation.key === null ? undefined : stored.get(evaluation.key);
    const segments = new Set(previous?.segments ?? []);
    for (const [segmentId, member] of evaluation.memberships) {
      if (member) segments.add(segmentId);
      else segments.delete(segmentId);
    }
    const valuesText = JSON.stringify(evaluation.values);
    const identitiesChanged = previous !== undefined && previous.text !== valuesText;
    if (evaluation.key !== null) {
      const next = { values: evaluation.values, segments, text: valuesText };
      stored.set(evaluation.key, next);
      profileRows.set(evaluation.key, { identities: valuesText, segments: JSON.stringify([...segments].sort()) });
    }

    for (const dataflow of context.dataflows) {
      let received = false;
      for (const audience of dataflow.audiences) {
        const foreign = evaluation.foreignSegments.includes(audience.segmentId);
        const mentioned = evaluation.memberships.has(audience.segmentId);
        if (foreign && !mentioned) {
          received = true;
          exclude(dataflow.id, audience.id, EXCLUSION_CODES.segmentNamespace);
          continue;
        }
        const member = segments.has(audience.segmentId);
        if (!mentioned && !(identitiesChanged && (member || previous?.segments.has(audience.segmentId)))) continue;
        received = true;
        counters.add({ dataflowId: dataflow.id, audienceId: audience.id, metric: 'profiles_received', at: now });
        if (!audienceActive(audience, now)) continue;
        let desired: string | null = null;
        if (member) {
          desired = userFor(dataflow, evaluation.values);
          for (const code of rejectionsFor(dataflow, evaluation.rejections)) exclude(dataflow.id, audience.id, code);
          if (desired === null) exclude(dataflow.id, audience.id, EXCLUSION_CODES.noIdentifier);
        }
        if (evaluation.key === null) continue;
        ledger.set(`${audience.id}\u0000${evaluation.key}`, { audienceId: audience.id, member: evaluation.key, desired });
      }
      if (received) counters.add({ dataflowId: dataflow.id, metric: 'profiles_received', at: now });
    }
  }

  const rows = [...profileRows].map(([key, row]) => ({ key, ...row }));
  for (const chunk of chunkRows(rows, 5, store.capabilities)) {
    await sql`insert into engine_profiles (sandbox_id, profile_key, identities, segments, updated_at) values ${sql.join(
      chunk.map((r) => sql`(${context.sandboxId}, ${r.key}, ${r.identities}, ${r.segments}, ${now})`),
    )} on conflict (sandbox_id, profile_key) do update set identities = excluded.identities, segments = excluded.segments, updated_at = excluded.updated_at`.execute(
      db,
    );
  }
  const writes = [...ledger.values()];
  await writeDesired(db, store.capabilities, writes, now);
  await counters.write(db, store.capabilities);
  return writes.length;
}
