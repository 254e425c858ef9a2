import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigError } from './load-config.ts';
import { loadConfig } from './load-config.ts';
import { readSetting } from './secret-env.ts';

const dir = mkdtempSync(join(tmpdir(), 'tca-secrets-'));
const secretFile = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};

describe('readSetting', () => {
  it('reads a secret from the file NAME_FILE names, without the final newline', () => {
    const path = secretFile('token', '  tca_abc123\n');
    expect(readSetting({ TCA_TOKEN_FILE: path }, 'TCA_TOKEN')).toEqual({ value: 'tca_abc123' });
    // Relative to the working directory given.
    expect(readSetting({ TCA_TOKEN_FILE: 'token' }, 'TCA_TOKEN', dir)).toEqual({ value: 'tca_abc123' });
    expect(readSetting({ TCA_TOKEN: 'direct' }, 'TCA_TOKEN')).toEqual({ value: 'direct' });
  });

  it('takes files only for secrets', () => {
    expect(readSetting({ TCA_PORT_FILE: secretFile('port', '9000') }, 'TCA_PORT')).toEqual({
      value: undefined,
    });
  });

  it('refuses both, a missing file and an empty one, never showing a value', () => {
    const both = readSetting(
      { TCA_TOKEN: 'direct-value', TCA_TOKEN_FILE: secretFile('t2', 'file-value') },
      'TCA_TOKEN',
    );
    expect(both.problem).toEqual({
      variable: 'TCA_TOKEN_FILE',
      message: 'is set as well as TCA_TOKEN: set only one of them',
    });
    const missing = readSetting({ TCA_SECRET_KEY_FILE: join(dir, 'nope') }, 'TCA_SECRET_KEY');
    expect(missing).toEqual({
      value: undefined,
      problem: {
        variable: 'TCA_SECRET_KEY_FILE',
        message: `names ${join(dir, 'nope')}, which cannot be read (ENOENT); mount the secret there, or unset TCA_SECRET_KEY_FILE`,
      },
    });
    expect(
      readSetting({ TCA_SECRET_KEY_FILE: secretFile('empty', '\n') }, 'TCA_SECRET_KEY').problem?.message,
    ).toMatch(/which is empty$/);
  });
});

describe('loadConfig with secret files', () => {
  it('reads every secret setting from its file', () => {
    const key = 'ab'.repeat(32);
    const config = loadConfig({
      TCA_SECRET_KEY_FILE: secretFile('key', `${key}\n`),
      TCA_X_CONSUMER_KEY_FILE: secretFile('ck', 'consumer-key'),
      TCA_X_CONSUMER_SECRET_FILE: secretFile('cs', 'consumer-secret'),
      TCA_AUDIT_FORWARD_URL: 'https://siem.example.com/in',
      TCA_AUDIT_FORWARD_TOKEN_FILE: secretFile('hec', 'hec-token'),
      TCA_DATABASE_URL_FILE: secretFile('db', 'postgres://tca:pw@db:5432/tca'),
    });
    expect(config.secretKey).toBe(key);
    expect(config.xDefaultApp).toEqual({ consumerKey: 'consumer-key', consumerSecret: 'consumer-secret' });
    expect(config.auditForward?.token).toBe('hec-token');
    expect(config.databaseUrl).toBe('postgres://tca:pw@db:5432/tca');
  });

  it('lists a file it cannot read with the other problems, and validates what a file holds', () => {
    let error: unknown;
    try {
      loadConfig({
        TCA_PORT: 'eighty',
        TCA_SECRET_KEY_FILE: join(dir, 'missing'),
        TCA_SECRET_KEY_PREVIOUS_FILE: secretFile('short', 'too-short'),
      });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual([
      'TCA_PORT',
      'TCA_SECRET_KEY_FILE',
      'TCA_SECRET_KEY_PREVIOUS',
    ]);
    expect((error as ConfigError).message).not.toContain('too-short');
  });
});
