import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError } from './errors.ts';
import { loadSecretKey, parseSecretKey, SECRET_KEY_FILE } from './secret-key.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tca-key-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('parseSecretKey', () => {
  const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7));

  it('accepts hex, base64 and base64url encodings of 32 bytes', () => {
    expect(parseSecretKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('hex').toUpperCase())).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('base64url'))).toEqual(bytes);
    expect(parseSecretKey(` ${bytes.toString('base64')}\n`)).toEqual(bytes);
  });

  it.each([
    '',
    'short',
    'ab'.repeat(31),
    Buffer.alloc(16).toString('base64'),
    'g'.repeat(64),
    Buffer.alloc(33).toString('base64'),
  ])('rejects %j with a message naming the variable', (value) => {
    expect(() => parseSecretKey(value)).toThrow(StoreError);
    expect(() => parseSecretKey(value)).toThrow(/TCA_SECRET_KEY must be a 32-byte key/);
    expect(() => parseSecretKey(value, 'MY_KEY')).toThrow(/^MY_KEY/);
  });
});

describe('loadSecretKey', () => {
  it('prefers the configured key and writes no file', () => {
    const dir = tempDir();
    const key = loadSecretKey({ secretKey: 'a'.repeat(64), dataDir: dir });
    expect(key.source).toBe('config');
    expect(() => statSync(join(dir, SECRET_KEY_FILE))).toThrow();
  });

  it('generates secret.key with mode 0600 once, then reads it back unchanged', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const first = loadSecretKey({ dataDir: dir });
    expect(first.source).toBe('generated');
    const path = join(dir, SECRET_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const content = readFileSync(path, 'utf8');
    const second = loadSecretKey({ dataDir: dir });
    expect(second.source).toBe('file');
    expect(second.key).toEqual(first.key);
    expect(readFileSync(path, 'utf8')).toBe(content);
  });

  it('refuses a key file other users can read', () => {
    const dir = tempDir();
    loadSecretKey({ dataDir: dir });
    chmodSync(join(dir, SECRET_KEY_FILE), 0o644);
    expect(() => loadSecretKey({ dataDir: dir })).toThrow(/chmod 600/);
  });

  it('refuses a malformed key file instead of replacing it', () => {
    const dir = tempDir();
    const path = join(dir, SECRET_KEY_FILE);
    writeFileSync(path, 'not a key\n', { mode: 0o600 });
    expect(() => loadSecretKey({ dataDir: dir })).toThrow(StoreError);
    expect(readFileSync(path, 'utf8')).toBe('not a key\n');
  });
});
