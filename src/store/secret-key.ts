import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StoreError } from './errors.ts';

/** Name of the generated key file inside the data directory. */
export const SECRET_KEY_FILE = 'secret.key';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

/**
 * Parses a 32-byte key written as 64 hex characters or as base64/base64url (43 or 44 characters). `variable` names the
 * setting in the error message.
 *
 * @example
 * parseSecretKey(process.env.TCA_SECRET_KEY ?? '', 'TCA_SECRET_KEY'); // Buffer(32)
 */
export function parseSecretKey(value: string, variable = 'TCA_SECRET_KEY'): Buffer {
  const text = value.trim();
  let key: Buffer | undefined;
  if (HEX_KEY.test(text)) key = Buffer.from(text, 'hex');
  else if (BASE64_KEY.test(text)) key = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
  if (key?.length !== 32) {
    throw new StoreError(
      'secret_key',
      `${variable} must be a 32-byte key, written as 64 hex characters or 44 base64 characters`,
      {
        hint: `Generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`,
        details: { variable },
      },
    );
  }
  return key;
}

/**
 * The secret key: `secretKey` when given (the value of TCA_SECRET_KEY), otherwise `dataDir/secret.key`, created with
 * mode 0600 on first use. An existing key file is never overwritten: losing it makes stored credentials unreadable.
 */
export function loadSecretKey(options: { secretKey?: string | undefined; dataDir: string }): {
  key: Buffer;
  source: 'config' | 'file' | 'generated';
} {
  if (options.secretKey !== undefined) return { key: parseSecretKey(options.secretKey), source: 'config' };
  const path = join(options.dataDir, SECRET_KEY_FILE);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  try {
    return { key: readKeyFile(path), source: 'file' };
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  const encoded = `${randomBytes(32).toString('base64')}\n`;
  let fd: number;
  try {
    // 'wx' fails if another process created the file first; then that file is the key.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { key: readKeyFile(path), source: 'file' };
    throw new StoreError('secret_key', `Cannot create the key file ${path}`, {
      cause: error,
      hint: 'Make the data directory writable, or set TCA_SECRET_KEY',
    });
  }
  try {
    writeSync(fd, encoded);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { key: parseSecretKey(encoded, path), source: 'generated' };
}

function readKeyFile(path: string): Buffer {
  const stat = statSync(path);
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw new StoreError(
      'secret_key',
      `The key file ${path} is readable by other users (mode ${(stat.mode & 0o777).toString(8)})`,
      {
        hint: `Run: chmod 600 ${path}`,
      },
    );
  }
  return parseSecretKey(readFileSync(path, 'utf8'), path);
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
