import { validateAudienceName } from '../audience/naming.ts';
import { isXAdsError, type XAdsError, type XErrorDetail } from '../xads/errors.ts';
import type { CustomAudience } from '../xads/types.ts';
import type { EngineRuntime } from './runtime.ts';
import type { EngineXClient } from './x-port.ts';

/** The description the engine gives audiences it creates: lets a restart adopt an audience whose create it did not record. */
export function audienceMarker(audienceId: string): string {
  return `tca-${audienceId}`;
}

/** The name X holds for the `n`th attempt: the mapping name, then ` (2)`, ` (3)`… */
export function suffixedName(base: string, attempt: number): string {
  return attempt <= 1 ? base : `${base} (${attempt})`;
}

/**
 * The part of a refusal that is about the name: X's detail on `parameter: "name"`. X's wording for a taken name is
 * undocumented (docs.x.com custom audiences: "Unique name value must be used. Failure to do so will result in an
 * error"), so the message decides only when X names no parameter at all.
 */
export function nameRefusalDetail(error: unknown): XErrorDetail | undefined {
  if (!isXAdsError(error) || error.kind !== 'validation') return undefined;
  return (
    error.details.find((d) => d.parameter === 'name') ??
    error.details.find(
      (d) => d.parameter === undefined && /already exists|unique|taken|duplicate/i.test(d.message),
    )
  );
}

/** Why X refused a name: an audience of the account holds it (deleted ones keep their names), or it is invalid. */
type NameRefusal = { taken: CustomAudience } | { invalid: string };

/**
 * Why X refused `name`: the audience that holds it, else X's reason for an invalid name; null when the refusal is not
 * about the name.
 */
async function nameRefusal(
  client: EngineXClient,
  accountId: string,
  name: string,
  error: unknown,
): Promise<NameRefusal | null> {
  const detail = nameRefusalDetail(error);
  if (!detail) return null;
  // `q` matches a case-insensitive prefix: compare exact names here. A live holder before a deleted one.
  const holders = (await client.listCustomAudiences(accountId, { q: name, withDeleted: true })).filter(
    (a) => a.name === name,
  );
  const holder = holders.find((a) => !a.deleted) ?? holders[0];
  if (holder) return { taken: holder };
  return {
    invalid: `X refused the audience name "${name}" (${detail.code}: ${detail.message}). Change the mapping name, then resume the dataflow.`,
  };
}

/**
 * Whether X confirms that the audience is gone: asked with `with_deleted=true`, it reports the audience deleted, or
 * answers 404 with its JSON error. A 404 on another call proves nothing: X occasionally answers 404 with an HTML
 * page, and starting over would re-send every member (docs.x.com: "never re-send the complete audience memberships").
 */
export async function xAudienceGone(
  client: EngineXClient,
  accountId: string,
  xAudienceId: string,
): Promise<boolean> {
  try {
    return (await client.getCustomAudience(accountId, xAudienceId, { withDeleted: true })).deleted;
  } catch (error) {
    if (isXAdsError(error) && error.kind === 'not_found') return true;
    return false;
  }
}

export type LifecycleOutcome =
  | {
      ok: true;
      xAudienceId: string;
      name: string;
      /** What this call did at X: made the audience, took over an existing one, or pushed a new name. */
      change?: XAudienceChange;
    }
  | { ok: false; reason: 'invalid_name'; message: string }
  /** The X audience to attach to does not exist at X (never did, or was deleted there): only the user can fix it. */
  | { ok: false; reason: 'attach_gone'; message: string }
  | { ok: false; reason: 'x_error'; error: XAdsError | Error };

/** What a delivery pass did to the X audience itself, besides its members. */
export type XAudienceChange = 'created' | 'attached' | 'renamed';

const MAX_NAME_ATTEMPTS = 50;

/** Records the X audience on the engine's row and mirrors it to the dataflow audience the API shows. */
async function recordXAudience(
  rt: EngineRuntime,
  audienceId: string,
  x: { id: string; name: string; base: string; createdByEngine: boolean },
): Promise<void> {
  const now = rt.now();
  await rt.store.transaction(async (tx) => {
    await tx.db
      .updateTable('engine_audiences')
      .set({
        x_audience_id: x.id,
        x_audience_name: x.name,
        name_base: x.base,
        created_by_engine: x.createdByEngine ? 1 : 0,
        creating_at: null,
        updated_at: now,
      })
      .where('id', '=', audienceId)
      .execute();
    await tx.db
      .updateTable('dataflow_audiences')
      .set({ x_audience_id: x.id, x_audience_name: x.name, state: 'active', updated_at: now })
      .where('id', '=', audienceId)
      .where('state', 'not in', ['removing', 'removed'])
      .execute();
  });
}

/**
 * Makes sure the audience has its X audience: attaches to the given existing id, adopts one a crashed run created,
 * or creates one named after the mapping name (adding ` (2)`, ` (3)`… when X says the name is taken, e.g. by a
 * deleted audience). A mapping name changed since then is pushed with a PUT.
 */
export async function ensureXAudience(
  rt: EngineRuntime,
  client: EngineXClient,
  accountId: string,
  audience: {
    id: string;
    mappingName: string;
    existingXAudienceId: string | null;
    xAudienceId: string | null;
    xAudienceName: string | null;
    nameBase: string | null;
    createdByEngine: boolean;
    creatingAt: number | null;
  },
): Promise<LifecycleOutcome> {
  const validation = validateAudienceName(audience.mappingName, { field: 'mappingName' });
  if (!validation.ok) {
    return {
      ok: false,
      reason: 'invalid_name',
      message: `${validation.message} Suggested: "${validation.suggestion}"`,
    };
  }
  // The name X gets is the validated one: trimmed, as the API stores what it checked.
  const base = validation.value;
  /** Records `x` as the audience's X audience (the engine's own unless attached) and reports what this call did. */
  const settle = async (x: CustomAudience, change: XAudienceChange): Promise<LifecycleOutcome> => {
    await recordXAudience(rt, audience.id, {
      id: x.id,
      name: x.name,
      base,
      createdByEngine: change !== 'attached',
    });
    return { ok: true, xAudienceId: x.id, name: x.name, change };
  };
  try {
    if (audience.xAudienceId !== null) {
      if (audience.createdByEngine && audience.nameBase !== base) {
        return await rename(rt, client, accountId, audience.id, audience.xAudienceId, base);
      }
      return {
        ok: true,
        xAudienceId: audience.xAudienceId,
        name: audience.xAudienceName ?? base,
      };
    }
    if (audience.existingXAudienceId !== null) {
      const existingId = audience.existingXAudienceId;
      let existing: CustomAudience;
      try {
        existing = await client.getCustomAudience(accountId, existingId);
      } catch (error) {
        // Retrying cannot bring it back, and making another one would not be the audience asked for.
        if (
          isXAdsError(error) &&
          error.kind === 'not_found' &&
          (await xAudienceGone(client, accountId, existingId))
        )
          return {
            ok: false,
            reason: 'attach_gone',
            message: `The X audience ${existingId} to attach to does not exist in ads account ${accountId} (the id is wrong, or it was deleted at X). Remove the segment from the dataflow, save, and add it again with the right existingXAudienceId (or none, to have a new X audience made), then resume the dataflow.`,
          };
        throw error;
      }
      return await settle(existing, 'attached');
    }
    const marker = audienceMarker(audience.id);
    if (audience.creatingAt !== null) {
      const adopted = await findByMarker(client, accountId, marker);
      if (adopted) return await settle(adopted, 'created');
    }
    await rt.store.db
      .updateTable('engine_audiences')
      .set({ creating_at: rt.now(), updated_at: rt.now() })
      .where('id', '=', audience.id)
      .execute();
    for (let attempt = 1; attempt <= MAX_NAME_ATTEMPTS; attempt += 1) {
      const name = suffixedName(base, attempt);
      // Looked up first, as X's answer to a taken name is undocumented.
      const holder = await client.findCustomAudienceByName(accountId, name);
      if (holder) {
        // The audience a crashed create made: adopt it rather than make a second one.
        if (holder.description !== marker) continue;
        return await settle(holder, 'created');
      }
      try {
        const created = await client.createCustomAudience(accountId, { name, description: marker });
        rt.logger.info({ audienceId: audience.id, xAudienceId: created.id, attempt }, 'created X audience');
        return await settle(created, 'created');
      } catch (error) {
        const refusal = await nameRefusal(client, accountId, name, error);
        if (refusal === null) throw error;
        if ('invalid' in refusal) return { ok: false, reason: 'invalid_name', message: refusal.invalid };
        // An earlier create whose answer was lost (a timeout) reached X after the lookup above: adopt it too.
        if (!refusal.taken.deleted && refusal.taken.description === marker)
          return await settle(refusal.taken, 'created');
      }
    }
    return {
      ok: false,
      reason: 'invalid_name',
      message: `Every name from "${base}" to "${suffixedName(base, MAX_NAME_ATTEMPTS)}" is taken in the X account. Change the mapping name, then resume the dataflow.`,
    };
  } catch (error) {
    return { ok: false, reason: 'x_error', error: error instanceof Error ? error : new Error(String(error)) };
  }
}

async function findByMarker(
  client: EngineXClient,
  accountId: string,
  marker: string,
): Promise<CustomAudience | null> {
  const all = await client.listCustomAudiences(accountId);
  return all.find((a) => !a.deleted && a.description === marker) ?? null;
}

async function rename(
  rt: EngineRuntime,
  client: EngineXClient,
  accountId: string,
  audienceId: string,
  xAudienceId: string,
  base: string,
): Promise<LifecycleOutcome> {
  for (let attempt = 1; attempt <= MAX_NAME_ATTEMPTS; attempt += 1) {
    const name = suffixedName(base, attempt);
    const holder = await client.findCustomAudienceByName(accountId, name);
    if (holder && holder.id !== xAudienceId) continue;
    let updated = holder;
    if (updated === null) {
      try {
        updated = await client.updateCustomAudience(accountId, xAudienceId, { name });
      } catch (error) {
        const refusal = await nameRefusal(client, accountId, name, error);
        if (refusal === null) throw error;
        if ('invalid' in refusal) return { ok: false, reason: 'invalid_name', message: refusal.invalid };
        // Taken by another audience: the next name. By this one: an earlier rename whose answer was lost (a timeout)
        // reached X after the lookup above, and it is done.
        if (refusal.taken.id !== xAudienceId) continue;
        updated = refusal.taken;
      }
    }
    await recordXAudience(rt, audienceId, {
      id: xAudienceId,
      name: updated.name,
      base,
      createdByEngine: true,
    });
    rt.logger.info({ audienceId, xAudienceId }, 'renamed X audience');
    return { ok: true, xAudienceId, name: updated.name, change: 'renamed' };
  }
  return {
    ok: false,
    reason: 'invalid_name',
    message: `Every name derived from "${base}" is taken in the X account. Change the mapping name, then resume the dataflow.`,
  };
}

/**
 * Whether removing the audience deletes an X audience (`removeAudience`): one the engine made, or one a create whose
 * answer was lost may have made, unless the dataflow keeps removed audiences.
 */
export function removalDeletesAtX(
  audience: { x_audience_id: string | null; created_by_engine: number; creating_at: number | null },
  onAudienceRemoval: string | undefined,
): boolean {
  if (onAudienceRemoval === 'keep') return false;
  return audience.x_audience_id !== null ? audience.created_by_engine === 1 : audience.creating_at !== null;
}

/**
 * Takes a removed audience off X: deletes the X audience when the engine created it and the dataflow says
 * `delete` (the default, as AEP does for this destination), keeps it otherwise, then drops the ledger rows.
 */
export async function removeAudience(
  rt: EngineRuntime,
  input: {
    audienceId: string;
    client: EngineXClient | null;
    accountId: string | null;
    xAudienceId: string | null;
    createdByEngine: boolean;
    /** When a create was sent whose outcome was never recorded (`engine_audiences.creating_at`), else null. */
    creatingAt?: number | null;
    action: string;
  },
): Promise<void> {
  let xAudienceId = input.xAudienceId;
  let createdByEngine = input.createdByEngine;
  // A create whose answer was lost may have made the audience at X all the same: found by its marker, it goes too.
  if (
    xAudienceId === null &&
    (input.creatingAt ?? null) !== null &&
    input.client &&
    input.accountId &&
    input.action !== 'keep'
  ) {
    const made = await findByMarker(input.client, input.accountId, audienceMarker(input.audienceId));
    if (made) {
      xAudienceId = made.id;
      createdByEngine = true;
    }
  }
  if (input.client && input.accountId && xAudienceId && createdByEngine && input.action !== 'keep') {
    try {
      await input.client.deleteCustomAudience(input.accountId, xAudienceId);
    } catch (error) {
      // Already gone at X is the state we want.
      if (!(isXAdsError(error) && error.kind === 'not_found')) throw error;
    }
  }
  const now = rt.now();
  await rt.store.transaction(async (tx) => {
    await tx.db.deleteFrom('engine_ledger').where('audience_id', '=', input.audienceId).execute();
    await tx.db.deleteFrom('engine_member_idents').where('audience_id', '=', input.audienceId).execute();
    await tx.db.deleteFrom('engine_inflight').where('audience_id', '=', input.audienceId).execute();
    await tx.db
      .updateTable('engine_audiences')
      .set({ lifecycle: 'removed', lease_owner: null, lease_until: null, updated_at: now })
      .where('id', '=', input.audienceId)
      .execute();
    await tx.db
      .updateTable('dataflow_audiences')
      .set({ state: 'removed', updated_at: now })
      .where('id', '=', input.audienceId)
      .execute();
  });
}

/** Polls X for the audience's size and targetability and stores it on the dataflow audience. */
export async function pollHealth(
  rt: EngineRuntime,
  client: EngineXClient,
  accountId: string,
  audience: { id: string; sandboxId: string; xAudienceId: string },
): Promise<void> {
  const x = await client.getCustomAudience(accountId, audience.xAudienceId);
  await rt.store.audiences.recordHealth(audience.sandboxId, audience.id, {
    audienceSize: x.audienceSize,
    targetable: x.targetable,
    reasonsNotTargetable: x.reasonsNotTargetable,
    checkedAt: rt.now(),
  });
}
