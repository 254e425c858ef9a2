import { keyNamespacesOf } from './dataflow-context.ts';
import { EngineError } from './errors.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';

/** How a sandbox's profiles are keyed: the identity namespaces a profile key comes from, in order of preference. */
export interface ProfileKeySettings {
  /** Upper case; a profile is keyed by the first of them it has (several ids in one: the smallest). */
  namespaces: string[];
  /** True when the sandbox names none and the service default applies. */
  isDefault: boolean;
  /** True once the sandbox holds profiles: their keys are keyed hashes under these namespaces, so they stay. */
  fixed: boolean;
}

const NAMESPACE = /^[A-Za-z0-9_.-]{1,100}$/;

async function settingsIn(
  db: Db,
  rt: EngineRuntime,
  sandboxId: string,
  lock: boolean,
): Promise<ProfileKeySettings> {
  const query = db.selectFrom('sandboxes').select('profile_key_namespaces').where('id', '=', sandboxId);
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
  return {
    namespaces,
    isDefault: own.length === 0,
    fixed: profile !== undefined,
  };
}

export function profileKeySettings(rt: EngineRuntime, sandboxId: string): Promise<ProfileKeySettings> {
  return settingsIn(rt.store.db as unknown as Db, rt, sandboxId, false);
}

/**
 * Sets the namespaces a sandbox's profile keys come from (null: the service default). Refused once the sandbox holds
 * profiles: a key is a keyed hash of an identity that is not stored, so profiles cannot be re-keyed, and keys made
 * under new namespaces would be new profiles whose old selves are never removed. The check and the change are one
 * transaction, which on PostgreSQL waits for writes in flight under the old namespaces (they hold the sandbox row).
 */
export async function setProfileKeyNamespaces(
  rt: EngineRuntime,
  sandboxId: string,
  namespaces: readonly string[] | null,
): Promise<ProfileKeySettings> {
  if (namespaces !== null) {
    const problems = namespaces.flatMap((ns, i) =>
      NAMESPACE.test(ns)
        ? []
        : [{ path: `profileKeyNamespaces[${i}]`, reason: 'letters, digits, _ . - only (1–100)' }],
    );
    if (namespaces.length === 0 || namespaces.length > 10)
      problems.push({
        path: 'profileKeyNamespaces',
        reason: 'give 1 to 10 namespaces, or null for the default',
      });
    const upper = namespaces.map((ns) => ns.toUpperCase());
    if (new Set(upper).size !== upper.length)
      problems.push({ path: 'profileKeyNamespaces', reason: 'each namespace once' });
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
    if (current.fixed) {
      throw new EngineError(
        'conflict',
        `Sandbox ${sandboxId} holds profiles keyed by ${current.namespaces.join(', ')}; their keys cannot change`,
        {
          details: [
            {
              path: 'profileKeyNamespaces',
              reason:
                'fixed once the sandbox holds profiles (keys are keyed hashes of identities that are not stored)',
            },
          ],
          hint: 'Use a new sandbox for profiles keyed another way',
        },
      );
    }
    await tx.sandboxes.setProfileKeyNamespaces(sandboxId, next);
    return settingsIn(db, rt, sandboxId, false);
  });
}
