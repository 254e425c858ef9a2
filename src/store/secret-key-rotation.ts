import type { Kysely } from 'kysely';
import { StoreError } from './errors.ts';
import type { Database } from './schema/index.ts';
import { SecretBox } from './secret-box.ts';
import { resealColumns, sealPlaintextColumns } from './sealed-columns.ts';

const SECRET_KEY_ID = 'secret_key_id';
/** The profile-key HMAC key, sealed under the current key; present once the key has been rotated. */
const PROFILE_KEY = 'profile_key';
const PROFILE_KEY_CONTEXT = 'store:profile-key';

/** A rotation done while the store opened. */
export interface KeyRotation {
  /** Fingerprints of the previous and the current key. */
  from: string;
  to: string;
  /** Destinations whose credentials were encrypted again. */
  credentials: number;
  /** Other sealed values encrypted again: alert webhooks and the targets of alerts and queued notifications. */
  alertTargets: number;
}

/**
 * Checks the secret key against the one the database was written with, and rotates it when asked. The first open
 * records the key's fingerprint. Later opens must use that key, or name it as `previousKey` next to a new one: then,
 * in one transaction, every sealed credential is decrypted with the previous key and encrypted with the new one, and
 * the fingerprint moves to the new key. Profile keys are keyed hashes of source identities and cannot be hashed again
 * without them, so the HMAC key they were made with is kept: sealed under the current key in `store_meta`, and
 * carried over by every later rotation.
 *
 * Several processes opening at once with the same keys rotate once: they take turns on the fingerprint's row, the
 * fingerprint moves by compare-and-swap, and the ones after the first find the rotation done.
 */
export async function settleSecretKey(
  db: Kysely<Database>,
  key: Buffer,
  options: {
    previousKey?: Buffer | undefined;
    /** False for a read-only open: the key is checked but never recorded or rotated. */
    write: boolean;
    /**
     * Lock the key's row for the transaction (PostgreSQL), so that processes opening at once rotate one after the
     * other; SQLite's write transactions are serialized already.
     */
    lockRows?: boolean;
    randomBytes?: (size: number) => Buffer;
  },
): Promise<{ secrets: SecretBox; rotation: KeyRotation | null }> {
  const random = options.randomBytes ? { randomBytes: options.randomBytes } : {};
  const current = new SecretBox(key, random);
  /** The current key's box, with the profile key the database keeps when it was rotated before. */
  const currentBox = (sealedProfileKey: string | undefined) =>
    sealedProfileKey === undefined
      ? current
      : new SecretBox(key, { ...random, profileKey: unsealProfileKey(current, sealedProfileKey) });

  if (!options.write) {
    // An open without migrations may find a database without tables yet: nothing recorded, nothing to check.
    const meta = await readMeta(db).catch(() => new Map<string, string>());
    const stored = meta.get(SECRET_KEY_ID);
    if (stored !== undefined && stored !== current.keyId) throw wrongKey(stored, current, null);
    return { secrets: currentBox(meta.get(PROFILE_KEY)), rotation: null };
  }
  await db
    .insertInto('store_meta')
    .values({ key: SECRET_KEY_ID, value: current.keyId })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  for (let attempt = 0; ; attempt += 1) {
    const settled = await db
      .transaction()
      .execute(async (trx) => {
        const meta = await readMeta(trx, options.lockRows);
        const stored = meta.get(SECRET_KEY_ID)!;
        const sealedProfileKey = meta.get(PROFILE_KEY);
        if (stored === current.keyId) {
          await sealPlaintextColumns(trx, current);
          return { secrets: currentBox(sealedProfileKey), rotation: null };
        }
        const previous = options.previousKey ? new SecretBox(options.previousKey) : null;
        if (previous === null || previous.keyId !== stored) throw wrongKey(stored, current, previous);

        const profileKey =
          sealedProfileKey === undefined
            ? previous.profileKeyMaterial()
            : unsealProfileKey(previous, sealedProfileKey);
        const next = new SecretBox(key, { ...random, profileKey });
        const resealed = await resealColumns(trx, previous, next);
        await trx
          .insertInto('store_meta')
          .values({ key: PROFILE_KEY, value: next.seal(profileKey.toString('hex'), PROFILE_KEY_CONTEXT) })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
          .execute();
        const moved = await trx
          .updateTable('store_meta')
          .set({ value: next.keyId })
          .where('key', '=', SECRET_KEY_ID)
          .where('value', '=', stored)
          .executeTakeFirst();
        // Another process rotated first: this transaction is undone, and the next attempt finds the new key.
        if (Number(moved.numUpdatedRows) !== 1) throw new RotatedElsewhere();
        return {
          secrets: next,
          rotation: { from: stored, to: next.keyId, ...resealed },
        };
      })
      .catch((error: unknown) => {
        if (error instanceof RotatedElsewhere && attempt < 3) return null;
        throw error;
      });
    if (settled) return settled;
  }
}

/** The key rows of `store_meta`; with `lock`, held until the transaction ends (a rotation elsewhere waits for it). */
async function readMeta(db: Kysely<Database>, lock = false): Promise<Map<string, string>> {
  const query = db
    .selectFrom('store_meta')
    .select(['key', 'value'])
    .where('key', 'in', [SECRET_KEY_ID, PROFILE_KEY]);
  const rows = await (lock ? query.forUpdate() : query).execute();
  return new Map(rows.map((r) => [r.key, r.value]));
}

/** The fingerprint of the key the database is written with now (null before the first open recorded one). */
export async function recordedKeyId(db: Kysely<Database>): Promise<string | null> {
  const row = await db
    .selectFrom('store_meta')
    .select('value')
    .where('key', '=', SECRET_KEY_ID)
    .executeTakeFirst();
  return row?.value ?? null;
}

class RotatedElsewhere extends Error {}

function unsealProfileKey(box: SecretBox, sealed: string): Buffer {
  return Buffer.from(box.open(sealed, PROFILE_KEY_CONTEXT), 'hex');
}

function wrongKey(stored: string, current: SecretBox, previous: SecretBox | null): StoreError {
  return new StoreError(
    'secret_key',
    `The database was written with secret key ${stored}, but the configured key is ${current.keyId}` +
      (previous ? ` (and TCA_SECRET_KEY_PREVIOUS is ${previous.keyId})` : ''),
    {
      hint:
        'Set TCA_SECRET_KEY (or restore secret.key in the data directory) to the original key; to rotate to a new ' +
        'key, set TCA_SECRET_KEY to the new one and TCA_SECRET_KEY_PREVIOUS to the one the database was written with',
    },
  );
}
