import { keyNamespacesOf, rekeyOf } from './dataflow-context.ts';
import { ERASED_KEY_PREFIX, retireProfiles } from './erasure.ts';
import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';

/** How a sandbox's profiles are keyed: the identity namespaces a profile key comes from, in order of preference. */
export interface ProfileKeySettings {
  /** Upper case; a profile is keyed by the first of them it has (several ids in one: the smallest). */
  namespaces: string[];
  /** True when the sandbox names none and the service default applies. */
  isDefault: boolean;
  /**
   * True once the sandbox holds profiles: their keys are keyed hashes under these namespaces, so changing them
   * re-keys the sandbox (see `setProfileKeyNamespaces`).
   */
  fixed: boolean;
  /**
   * True once the sandbox holds a profile keyed by a namespace after the first (a CRM id alone, or a CSV row keyed by
   * one): an export carrying ids of several of these namespaces then speaks for the segments it states in place of
   * the profiles those ids key (see `ProfileEvaluation.laterAliasKeys`), at one more lookup per id. False until then:
   * no such profile exists.
   */
  mergesAcrossNamespaces: boolean;
  /** The re-keying in progress, or null. */
  rekey: {
    /** The namespaces before (upper case). */
    from: string[];
    /** When it began (ISO 8601). */
    since: string;
    /** Profiles not met under the new keys yet: they keep their old keys until they are, or the re-keying ends. */
    remaining: number;
  } | null;
}

/** What ending a re-keying did. */
export interface RekeyFinish {
  settings: ProfileKeySettings;
  /** Profiles never met under the new keys that left every audience (0 unless asked). */
  removedProfiles: number;
  /** Their audience memberships: each is removed from its X audience by the next delivery. */
  removedMemberships: number;
}

/** Profiles retired per transaction when a re-keying ends with the rest removed. */
const RETIRE_PAGE = 2000;

const NAMESPACE = /^[A-Za-z0-9_.-]{1,100}$/;

async function settingsIn(
  db: Db,
  rt: EngineRuntime,
  sandboxId: string,
  lock: boolean,
): Promise<ProfileKeySettings> {
  const query = db
    .selectFrom('sandboxes')
    .select(['profile_key_namespaces', 'profile_key_generation', 'profile_key_rekey', 'profile_key_aliases'])
    .where('id', '=', sandboxId);
  const sandbox = await (lock ? query.forUpdate() : query).executeTakeFirst();
  if (!sandbox) throw new EngineError('not_found', `Sandbox ${sandboxId} does not exist`);
  // The sandbox's own list (empty: none), else the service default.
  const own = keyNamespacesOf(sandbox.profile_key_namespaces, []);
  const namespaces = own.length > 0 ? own : keyNamespacesOf(null, rt.tuning.profileKeyNamespaces);
  const profile = await db
    .selectFrom('engine_profiles')
    .select('id')
    .where('sandbox_id', '=', sandboxId)
    .limit(1)
    .executeTakeFirst();
  const rekey = rekeyOf(sandbox.profile_key_rekey);
  return {
    namespaces,
    isDefault: own.length === 0,
    fixed: profile !== undefined,
    mergesAcrossNamespaces: sandbox.profile_key_aliases === 1,
    rekey: rekey && {
      from: rekey.from,
      since: new Date(rekey.since).toISOString(),
      remaining: await behindCount(db, sandboxId, sandbox.profile_key_generation),
    },
  };
}

/** The sandbox's live profiles keyed under an older generation than `generation` (one pass over its profiles). */
async function behindCount(db: Db, sandboxId: string, generation: number): Promise<number> {
  const row = await db
    .selectFrom('engine_profiles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('sandbox_id', '=', sandboxId)
    .where('key_gen', '<', generation)
    .where('profile_key', 'not like', `${ERASED_KEY_PREFIX}%`)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function profileKeySettings(rt: EngineRuntime, sandboxId: string): Promise<ProfileKeySettings> {
  return settingsIn(rt.store.db as unknown as Db, rt, sandboxId, false);
}

/**
 * Sets the namespaces a sandbox's profile keys come from (null: the service default). Once the sandbox holds
 * profiles this needs `rekey`: a key is a keyed hash of an identity that is not stored, so stored profiles cannot be
 * keyed again at once. Re-keying instead adopts each one as it arrives: a profile not found under its new key is
 * looked for under the key the old namespaces give it, and takes the new key (its memberships and identifiers carry
 * over, so nothing is sent twice and nothing is left behind). Profiles that never arrive again keep their old keys
 * until `finishProfileRekey`. One re-keying at a time. The check and the change are one transaction, which on
 * PostgreSQL waits for writes in flight under the old namespaces (they hold the sandbox row).
 */
export async function setProfileKeyNamespaces(
  rt: EngineRuntime,
  sandboxId: string,
  namespaces: readonly string[] | null,
  options: { rekey?: boolean } = {},
): Promise<ProfileKeySettings> {
  if (namespaces !== null) {
    const problems = namespaces.flatMap((ns, i) =>
      NAMESPACE.test(ns) ? [] : [{ path: `namespaces[${i}]`, reason: 'letters, digits, _ . - only (1–100)' }],
    );
    if (namespaces.length === 0 || namespaces.length > 10)
      problems.push({
        path: 'namespaces',
        reason: 'give 1 to 10 namespaces, or null for the default',
      });
    const upper = namespaces.map((ns) => ns.toUpperCase());
    if (new Set(upper).size !== upper.length)
      problems.push({ path: 'namespaces', reason: 'each namespace once' });
    if (problems.length > 0)
      throw new EngineError('invalid_input', 'The profile key namespaces are not valid', {
        details: problems,
      });
  }
  return rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    const current = await settingsIn(db, rt, sandboxId, !rt.store.capabilities.singleWriter);
    const next = namespaces === null ? null : namespaces.map((ns) => ns.toUpperCase());
    const unchanged =
      next === null ? current.isDefault : !current.isDefault && next.join() === current.namespaces.join();
    if (unchanged) return current;
    if (current.fixed && current.rekey) {
      throw new EngineError(
        'rekey_in_progress',
        `Sandbox ${sandboxId} is being re-keyed from ${current.rekey.from.join(', ')} since ${current.rekey.since}; ${current.rekey.remaining} profiles are not met under the new keys yet`,
        {
          details: [{ path: 'rekey', reason: 'one re-keying at a time' }],
          hint: 'End the re-keying in progress first (POST /api/v1/profile-keys/rekey/finish)',
        },
      );
    }
    if (current.fixed && options.rekey !== true) {
      throw new EngineError(
        'conflict',
        `Sandbox ${sandboxId} holds profiles keyed by ${current.namespaces.join(', ')}; changing the namespaces re-keys them`,
        {
          details: [
            {
              path: 'namespaces',
              reason:
                'fixed once the sandbox holds profiles (keys are keyed hashes of identities that are not stored)',
            },
          ],
          hint: 'Send "rekey": true to re-key: each profile takes its new key when it next arrives',
        },
      );
    }
    if (current.fixed) {
      const rekey = JSON.stringify({ from: current.namespaces, since: rt.now() });
      await tx.sandboxes.startProfileRekey(sandboxId, next, rekey);
      rt.logger.info({ sandboxId, from: current.namespaces, to: next }, 'profile keys re-keying began');
    } else await tx.sandboxes.setProfileKeyNamespaces(sandboxId, next);
    return settingsIn(db, rt, sandboxId, false);
  });
}

/**
 * Ends a sandbox's re-keying: profiles are no longer looked for under their old keys. With `removeRemaining`, the
 * profiles never met under the new keys first leave every audience (the next delivery removes them from X) and keep
 * nothing (as an erasure does), a page per transaction while ingest goes on; without it they stay as they are, under
 * keys no export makes any more. Throws `not_found` when no re-keying is in progress.
 */
export async function finishProfileRekey(
  rt: EngineRuntime,
  sandboxId: string,
  options: { removeRemaining: boolean },
): Promise<RekeyFinish> {
  const db = rt.store.db as unknown as Db;
  const sandbox = await db
    .selectFrom('sandboxes')
    .select(['profile_key_generation', 'profile_key_rekey'])
    .where('id', '=', sandboxId)
    .executeTakeFirst();
  if (!sandbox?.profile_key_rekey)
    throw new EngineError('not_found', `Sandbox ${sandboxId} is not being re-keyed`, {
      hint: 'GET /api/v1/profile-keys says whether a re-keying is in progress',
    });
  const generation = sandbox.profile_key_generation;
  let removedProfiles = 0;
  let removedMemberships = 0;
  if (options.removeRemaining) {
    const caps = rt.store.capabilities;
    for (;;) {
      const page = await rt.store.transaction(async (tx) => {
        const tdb = tx.db as unknown as Db;
        const query = tdb
          .selectFrom('engine_profiles')
          .select(['id', 'profile_key'])
          .where('sandbox_id', '=', sandboxId)
          .where('key_gen', '<', generation)
          .where('profile_key', 'not like', `${ERASED_KEY_PREFIX}%`)
          .orderBy('id')
          .limit(RETIRE_PAGE);
        // PostgreSQL: a profile adopted meanwhile waits for this page, then finds its old key gone (a new profile).
        const found = await (caps.dialect === 'postgres' ? query.forUpdate() : query).execute();
        if (found.length > 0)
          removedMemberships += await retireProfiles(tdb, caps, sandboxId, found, rt.now());
        return found.length;
      });
      removedProfiles += page;
      if (page < RETIRE_PAGE) break;
    }
  }
  // On PostgreSQL the update waits for batches in flight under the re-keying (they share-lock the sandbox row), and
  // their writers then see the change and evaluate again.
  await rt.store.transaction((tx) => tx.sandboxes.finishProfileRekey(sandboxId));
  rt.logger.info({ sandboxId, removedProfiles, removedMemberships }, 'profile keys re-keying ended');
  return { settings: await settingsIn(db, rt, sandboxId, false), removedProfiles, removedMemberships };
}
