import * as crypto from 'node:crypto';

type OneShot = (
  algorithm: string,
  data: string | NodeJS.ArrayBufferView,
  encoding: string,
) => string | Buffer;

// `crypto.hash` (Node >= 20.12) hashes without a Hash object; HMAC built on it skips `createHmac`'s per-call key setup.
const oneShot = (crypto as { hash?: unknown }).hash as OneShot | undefined;

const BLOCK = 64;
const hashers = new WeakMap<Buffer, (message: string) => string>();

/**
 * HMAC-SHA256 (RFC 2104) under `key`, as lowercase hex of the UTF-8 message: the same bytes as
 * `createHmac('sha256', key).update(message).digest('hex')`, for a fraction of its cost per call. The key's inner and
 * outer pads are made once per key (a `Buffer` kept by identity, so keep the same one), and each message costs two
 * one-shot hashes.
 *
 * @example
 * hmacSha256Hex(Buffer.from('Jefe'))('what do ya want for nothing?');
 * // '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' (RFC 4231, test case 2)
 */
export function hmacSha256Hex(key: Buffer): (message: string) => string {
  const known = hashers.get(key);
  if (known) return known;
  const hasher = oneShot
    ? padded(key, oneShot)
    : (m: string) => crypto.createHmac('sha256', key).update(m).digest('hex');
  hashers.set(key, hasher);
  return hasher;
}

function padded(key: Buffer, hash: OneShot): (message: string) => string {
  const block = Buffer.alloc(BLOCK);
  (key.length > BLOCK ? crypto.createHash('sha256').update(key).digest() : key).copy(block);
  // `inner` is the inner pad followed by room for the message; `outer` the outer pad followed by the inner digest.
  let inner = Buffer.alloc(BLOCK + 256);
  const outer = Buffer.alloc(BLOCK + 32);
  for (let i = 0; i < BLOCK; i += 1) {
    inner[i] = block[i]! ^ 0x36;
    outer[i] = block[i]! ^ 0x5c;
  }
  // Views of `inner` by message length: a view costs more to make than the hash of a short message.
  let views = new Map<number, Buffer>();
  return (message) => {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    if (BLOCK + message.length * 3 > inner.length) {
      const bigger = Buffer.alloc(BLOCK + message.length * 3);
      inner.copy(bigger, 0, 0, BLOCK);
      inner = bigger;
      views = new Map();
    }
    const length = inner.write(message, BLOCK, 'utf8');
    let view = views.get(length);
    if (view === undefined) views.set(length, (view = inner.subarray(0, BLOCK + length)));
    // The inner digest crosses as a latin1 string (one character per byte): a Buffer result costs more to allocate.
    outer.write(hash('sha256', view, 'latin1') as string, BLOCK, 'latin1');
    return hash('sha256', outer, 'hex') as string;
  };
}
