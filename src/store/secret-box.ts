import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { StoreError } from './errors.ts';
import { hmacSha256Hex } from './hmac-sha256.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed values start with this version tag so the format can change without ambiguity. */
const FORMAT_V1 = 'v1';

function subkey(master: Buffer, purpose: string): Buffer {
  // HKDF separates the encryption key, the profile-key HMAC key and the key id, so no two uses share key material.
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `tca/v1/${purpose}`, KEY_BYTES));
}

/**
 * Authenticated encryption of small secrets (destination credentials) with AES-256-GCM, plus the keyed hash used for
 * profile keys. Sealed format: `v1.<keyId>.<base64url(iv ‖ ciphertext ‖ tag)>`, where `keyId` is a public fingerprint
 * of the key so a value sealed under another key fails with a clear message instead of a bare authentication error.
 *
 * @example
 * const box = new SecretBox(randomBytes(32));
 * const sealed = box.seal('{"consumerSecret":"…"}', 'destination:dst_1');
 * box.open(sealed, 'destination:dst_1'); // '{"consumerSecret":"…"}'
 */
/** `SecretBox.profileKeyHash` under a given profile-key subkey (see `profileKeyMaterial`). */
export function profileKeyDigest(profileKey: Buffer, namespace: string, id: string): string {
  // The NUL separator keeps ('a', 'bc') and ('ab', 'c') apart.
  return hmacSha256Hex(profileKey)(`${namespace}\u0000${id}`);
}

export class SecretBox {
  /** Public fingerprint of the key (16 hex characters); safe to store and log. */
  readonly keyId: string;
  readonly #encryptionKey: Buffer;
  readonly #profileKey: Buffer;
  readonly #random: (size: number) => Buffer;

  constructor(
    masterKey: Buffer,
    options: {
      randomBytes?: (size: number) => Buffer;
      /**
       * The profile-key subkey to use instead of the one derived from `masterKey`: after a key rotation, profile keys
       * keep the HMAC key they were made with (see `settleSecretKey`), since hashes cannot be re-keyed.
       */
      profileKey?: Buffer;
    } = {},
  ) {
    if (masterKey.length !== KEY_BYTES) {
      throw new StoreError(
        'secret_key',
        `The secret key must be ${KEY_BYTES} bytes, got ${masterKey.length}`,
      );
    }
    this.#encryptionKey = subkey(masterKey, 'secret-box');
    this.#profileKey = options.profileKey
      ? Buffer.from(options.profileKey)
      : subkey(masterKey, 'profile-key');
    this.keyId = subkey(masterKey, 'key-id').subarray(0, 8).toString('hex');
    this.#random = options.randomBytes ?? randomBytes;
  }

  /**
   * Encrypts `plaintext`. `context` (additional authenticated data) binds the value to its owner, e.g. a destination
   * id, so a sealed value copied to another row does not open.
   */
  seal(plaintext: string, context = ''): string {
    const iv = this.#random(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#encryptionKey, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const payload = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    return `${FORMAT_V1}.${this.keyId}.${payload}`;
  }

  /** Decrypts a value made by {@link seal} with the same `context`. */
  open(sealed: string, context = ''): string {
    const [version, keyId, payload, ...rest] = sealed.split('.');
    if (version !== FORMAT_V1 || keyId === undefined || payload === undefined || rest.length > 0) {
      throw new StoreError(
        'decrypt_failed',
        `Unrecognized sealed value format (expected "${FORMAT_V1}.<keyId>.<data>")`,
      );
    }
    if (keyId !== this.keyId) {
      throw new StoreError(
        'secret_key',
        `This value was encrypted with key ${keyId}, but the current key is ${this.keyId}`,
        {
          hint: 'Set TCA_SECRET_KEY (or restore secret.key in the data directory) to the key the data was written with',
        },
      );
    }
    const raw = Buffer.from(payload, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) {
      throw new StoreError('decrypt_failed', 'Sealed value is truncated');
    }
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#encryptionKey, iv);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new StoreError(
        'decrypt_failed',
        'Sealed value failed authentication (tampered, or opened with the wrong context)',
        {
          cause,
        },
      );
    }
  }

  /**
   * The keyed hash of a source profile identity: HMAC-SHA256 (lowercase hex) under a key derived from the secret key
   * (from the first one, when the key was rotated), so profile keys in the database cannot be reversed by hashing
   * guesses without the key.
   *
   * @example
   * box.profileKeyHash('ECID', '4567…'); // 64 hex characters, stable for the same key
   */
  profileKeyHash(namespace: string, id: string): string {
    return profileKeyDigest(this.#profileKey, namespace, id);
  }

  /**
   * A copy of the profile-key subkey, for a worker thread that computes `profileKeyHash` itself (the master key never
   * leaves this box). Keep it in memory only.
   */
  profileKeyMaterial(): Buffer {
    return Buffer.from(this.#profileKey);
  }

  /** Constant-time comparison of two keyed hashes or token hashes. */
  static equal(a: string, b: string): boolean {
    const left = Buffer.from(a);
    const right = Buffer.from(b);
    return left.length === right.length && timingSafeEqual(left, right);
  }
}
