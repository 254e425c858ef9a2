import { sql } from 'kysely';
import { hashPrefix } from '../store/hash-prefix.ts';
import { applyMapping } from '../audience/mapping.ts';
import type { XIdentifierType } from '../identity/types.ts';
import type { ProfileExport } from '../profile/index.ts';
import { loadSandboxContext } from './dataflow-context.ts';
import { EngineError } from './errors.ts';
import { writeDesired, type DesiredWrite } from './ledger-writes.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Store } from '../store/index.ts';
import { chunkRows, lockSandboxProfiles, type Db } from './sql-helpers.ts';

/** A person's identity as a privacy request names it: an identity namespace and the raw id (never stored). */
export interface ErasureIdentity {
  namespace: string;
  id: string;
}

export interface ErasureResult {
  /** Profiles found and erased. */
  profiles: number;
  /** Audience memberships left: each is removed from its X audience by the next delivery. */
  audiences: number;
  /** Identities that match no profile (already erased, or never seen). */
  notFound: number;
  /** Identities that cannot name a profile here, with why. */
  skipped: Array<{ index: number; reason: string }>;
}

/**
 * An erased profile's key: this prefix and its id (profile keys are otherwise `k:` or `u:`), so no lookup finds it.
 */
export const ERASED_KEY_PREFIX = 'x:';

/** Profiles read per page when looking for mapped identities. */
const SCAN_PAGE = 5000;

/** At most this many identities per request. */
export const MAX_ERASURE_IDENTITIES = 1000;

/**
 * Erases profiles for a privacy request (a right-to-be-forgotten job). An identity names profiles by their key (an
 * identity in one of the sandbox's profile key namespaces, keyed as ingest keys it) or by an identifier a mapping
 * reads (an email, say: normalized and hashed as that mapping would, and matched on the hashes profiles store; one pass
 * over the sandbox's profiles). Each profile found leaves every audience (the next delivery removes its identifiers
 * from X); its stored state (hashed identifiers, segments, consent) and its dead letters are deleted, and its row keeps
 * no key, so the person would make a new profile if exported again. Raw ids are hashed at once, never stored. One
 * transaction; idempotent.
 *
 * @example
 * await eraseProfiles(rt, 'prod', [{ namespace: 'ECID', id: '4567…' }, { namespace: 'Email', id: 'jane@example.com' }]);
 * // { profiles: 1, audiences: 2, notFound: 0, skipped: [] }
 */
export async function eraseProfiles(
  rt: EngineRuntime,
  sandboxId: string,
  identities: readonly ErasureIdentity[],
): Promise<ErasureResult> {
  if (identities.length > MAX_ERASURE_IDENTITIES)
    throw new EngineError('invalid_input', `At most ${MAX_ERASURE_IDENTITIES} identities per request`, {
      details: [{ path: 'identities', reason: `at most ${MAX_ERASURE_IDENTITIES}` }],
    });
  const db = rt.store.db as unknown as Db;
  const sandbox = await db
    .selectFrom('sandboxes')
    .select('id')
    .where('id', '=', sandboxId)
    .executeTakeFirst();
  if (!sandbox) throw new EngineError('not_found', `Sandbox ${sandboxId} does not exist`);
  const context = await loadSandboxContext(db, sandboxId, rt.tuning.profileKeyNamespaces);
  const mappingRows = context.rows;
  // While the sandbox is re-keyed, profiles not met again still carry keys from the namespaces before.
  const keyNamespaces = [...new Set([...context.keyNamespaces, ...(context.previousKeyNamespaces ?? [])])];
  const result: ErasureResult = { profiles: 0, audiences: 0, notFound: 0, skipped: [] };
  const keys = new Set<string>();
  // Identities a mapping hashes (an email, say): each as the stored value its mapping rows would keep.
  const mapped: Array<{ index: number; rowKey: string; value: string }> = [];
  identities.forEach((identity, index) => {
    const namespace = identity.namespace.trim().toUpperCase();
    if (identity.id === '') {
      result.skipped.push({ index, reason: 'the id is empty' });
      return;
    }
    // As ingest keys profiles: `k:` and the keyed hash of the upper-case namespace and the id as given.
    if (keyNamespaces.includes(namespace)) {
      keys.add(`k:${rt.store.profileKeyHash(namespace, identity.id)}`);
      return;
    }
    let readable = false;
    const before = mapped.length;
    for (const [rowKey, row] of mappingRows) {
      if (row.sourceType !== 'namespace' || row.source.toUpperCase() !== namespace) continue;
      readable = true;
      const { user } = applyMapping([row], {
        segmentMembership: {},
        identityMap: { [row.source]: [{ id: identity.id }] },
        attributes: {},
      } as unknown as ProfileExport);
      for (const value of user[row.target as XIdentifierType] ?? []) mapped.push({ index, rowKey, value });
    }
    if (readable && mapped.length === before)
      result.skipped.push({
        index,
        reason: `the id is not a valid identifier for the mappings that read ${namespace}`,
      });
    else if (!readable)
      result.skipped.push({
        index,
        reason: `${identity.namespace} is neither a profile key namespace of this sandbox (${keyNamespaces.join(', ')}) nor an identity namespace its mappings read: name the person by one of those`,
      });
  });
  const mappedIdentities = new Set(mapped.map((m) => m.index));
  if (keys.size === 0 && mappedIdentities.size === 0) return result;

  const caps = rt.store.capabilities;
  const now = rt.now();
  // Mapped identities are looked for first, outside the write transaction: one pass over the sandbox's profiles
  // however many the request names, while ingest goes on.
  const candidates = new Map<number, Set<number>>();
  if (mapped.length > 0) {
    const wanted = new Map<string, Map<string, number[]>>();
    for (const m of mapped) {
      const byValue = wanted.get(m.rowKey) ?? new Map<string, number[]>();
      byValue.set(m.value, [...(byValue.get(m.value) ?? []), m.index]);
      wanted.set(m.rowKey, byValue);
    }
    for (let after = 0; ;) {
      const rows = await db
        .selectFrom('engine_profiles')
        .select(['id', 'identities'])
        .where('sandbox_id', '=', sandboxId)
        .where('id', '>', after)
        .orderBy('id')
        .limit(SCAN_PAGE)
        .execute();
      for (const row of rows) {
        const values = JSON.parse(row.identities) as Record<string, string[] | undefined>;
        for (const [rowKey, byValue] of wanted) {
          for (const value of values[rowKey] ?? []) {
            const indexes = byValue.get(value);
            if (!indexes) continue;
            const hit = candidates.get(row.id) ?? new Set<number>();
            for (const index of indexes) hit.add(index);
            candidates.set(row.id, hit);
          }
        }
      }
      if (rows.length < SCAN_PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
  }
  await rt.store.transaction(async (tx) => {
    const tdb = tx.db as unknown as Db;
    await lockSandboxProfiles(tdb, caps, sandboxId);
    const found: Array<{ id: number; profile_key: string }> = [];
    for (const chunk of chunkRows([...keys], 1, caps, 500)) {
      // SQLite finds profiles through their key prefix (see migration 0106); PostgreSQL by the key itself.
      const rows =
        caps.dialect === 'sqlite'
          ? (
              await sql<{ id: number; profile_key: string }>`select id, profile_key from engine_profiles
              where key_prefix in (${sql.join(chunk.map(hashPrefix))}) and sandbox_id = ${sandboxId}
                and profile_key in (${sql.join(chunk)})`.execute(tdb)
            ).rows
          : await tdb
              .selectFrom('engine_profiles')
              .select(['id', 'profile_key'])
              .where('sandbox_id', '=', sandboxId)
              .where('profile_key', 'in', chunk)
              .forUpdate()
              .execute();
      found.push(...rows);
    }
    const named = new Set(found.map((p) => p.profile_key));
    // Profiles that carried a named id beside the one that keys them (a CRM id beside an ECID; see migration 0119).
    const owners = new Map<number, string[]>();
    for (const chunk of chunkRows([...keys], 2, caps, 500)) {
      const rows = await tdb
        .selectFrom('engine_profile_aliases')
        .select(['profile_id', 'alias'])
        .where('sandbox_id', '=', sandboxId)
        .where('alias_prefix', 'in', chunk.map(hashPrefix))
        .where('alias', 'in', chunk)
        .execute();
      for (const row of rows) {
        const id = Number(row.profile_id);
        owners.set(id, [...(owners.get(id) ?? []), row.alias]);
      }
    }
    const seen = new Set(found.map((p) => p.id));
    // The profiles of `ids` not erased yet, as they stand now (on PostgreSQL, locked until the erasure commits): each
    // joins `found` once, and `onFound` hears of it.
    const take = async (ids: Iterable<number>, onFound: (id: number) => void) => {
      for (const chunk of chunkRows([...ids], 1, caps, 500)) {
        const query = tdb
          .selectFrom('engine_profiles')
          .select(['id', 'profile_key'])
          .where('sandbox_id', '=', sandboxId)
          .where('id', 'in', chunk)
          .where('profile_key', 'not like', `${ERASED_KEY_PREFIX}%`);
        for (const row of await (caps.dialect === 'postgres' ? query.forUpdate() : query).execute()) {
          onFound(row.id);
          if (seen.has(row.id)) continue;
          seen.add(row.id);
          found.push(row);
        }
      }
    };
    await take(owners.keys(), (id) => {
      for (const alias of owners.get(id) ?? []) named.add(alias);
    });
    result.notFound = keys.size - named.size;
    // The profiles the mapped identities found.
    const hits = new Set<number>();
    await take(candidates.keys(), (id) => {
      for (const index of candidates.get(id) ?? []) hits.add(index);
    });
    result.notFound += mappedIdentities.size - hits.size;
    result.profiles = found.length;
    if (found.length === 0) return;
    result.audiences = await retireProfiles(tdb, caps, sandboxId, found, now);
  });
  rt.logger.info(
    { sandboxId, profiles: result.profiles, audiences: result.audiences, notFound: result.notFound },
    'profiles erased',
  );
  return result;
}

/**
 * Takes profiles out of every audience of the sandbox and keeps nothing of them, inside the caller's transaction: each
 * membership's desired state becomes "not a member" (the next delivery removes what X holds), its dead letters and
 * mirror-import marks go, and the row stays (its id is a ledger member) with an erased key, no identifiers and no
 * segments, so no lookup finds it again. Returns the memberships left.
 */
export async function retireProfiles(
  tdb: Db,
  caps: Store['capabilities'],
  sandboxId: string,
  found: ReadonlyArray<{ id: number; profile_key: string }>,
  now: number,
): Promise<number> {
  const members = found.map((p) => String(p.id));
  const audiences = await tdb
    .selectFrom('engine_audiences')
    .select('id')
    .where('sandbox_id', '=', sandboxId)
    .execute();
  const writes: DesiredWrite[] = [];
  for (const { id: audienceId } of audiences) {
    for (const chunk of chunkRows(members, 1, caps, 500)) {
      const rows = await tdb
        .selectFrom('engine_ledger')
        .select('member')
        .where('audience_id', '=', audienceId)
        .where('member', 'in', chunk)
        .execute();
      for (const row of rows) writes.push({ audienceId, member: row.member, desired: null });
      if (rows.length > 0)
        await tdb
          .updateTable('engine_ledger')
          .set({ dead: null })
          .where('audience_id', '=', audienceId)
          .where('member', 'in', chunk)
          .execute();
      await tdb
        .deleteFrom('engine_dead_letters')
        .where('audience_id', '=', audienceId)
        .where('member', 'in', chunk)
        .execute();
    }
  }
  // Not a member anywhere: the next delivery removes what X holds (the ledger keeps only hashes until then).
  await writeDesired(tdb, caps, writes, now);
  for (const chunk of chunkRows(found, 1, caps, 500)) {
    await tdb
      .deleteFrom('engine_import_seen')
      .where(
        'profile_key',
        'in',
        chunk.map((p) => p.profile_key),
      )
      .execute();
    // The row stays (its id is a ledger member) but keeps nothing of the person.
    const ids = chunk.map((p) => p.id);
    await tdb.deleteFrom('engine_profile_aliases').where('profile_id', 'in', ids).execute();
    await sql`update engine_profiles set profile_key = ${sql.lit(ERASED_KEY_PREFIX)} || cast(id as text), identities = '{}',
        segments = '[]', updated_at = ${now}${caps.dialect === 'sqlite' ? sql`, key_prefix = 0` : sql``}
      where id in (${sql.join(ids)})`.execute(tdb);
  }
  return writes.length;
}
