import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hmacSha256Hex } from './hmac-sha256.ts';

describe('hmacSha256Hex', () => {
  it('matches RFC 4231 test cases 1, 2 and 6 (a key longer than a block)', () => {
    expect(hmacSha256Hex(Buffer.alloc(20, 0x0b))('Hi There')).toBe(
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    );
    expect(hmacSha256Hex(Buffer.from('Jefe'))('what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(
      hmacSha256Hex(Buffer.alloc(131, 0xaa))('Test Using Larger Than Block-Size Key - Hash Key First'),
    ).toBe('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
  });

  it("gives createHmac's digest for any key length and message, multibyte and long ones included", () => {
    const messages = [
      '',
      'ECID\u00001234',
      'Émilie\u0000😀 ünïcödé',
      'x'.repeat(300),
      'ñ'.repeat(1000),
      'short',
    ];
    for (const size of [1, 32, 64, 65, 200]) {
      const key = randomBytes(size);
      const hmac = hmacSha256Hex(key);
      // Long messages first, then short ones: the grown buffer must not leak old bytes into a shorter message. Twice,
      // so that lengths met before the buffer grew come again after (a view of the old buffer must not be reused),
      // and messages of the same length follow one another.
      for (const message of [...messages, ...messages, 'ECID\u00001235', 'ECID\u00001236'])
        expect(hmac(message)).toBe(createHmac('sha256', key).update(message).digest('hex'));
    }
  });

  it('keeps one hasher per key', () => {
    const key = randomBytes(32);
    expect(hmacSha256Hex(key)).toBe(hmacSha256Hex(key));
    expect(hmacSha256Hex(Buffer.from(key))('m')).toBe(hmacSha256Hex(key)('m'));
  });
});
