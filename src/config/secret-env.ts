import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConfigProblem } from './load-config.ts';

/**
 * Settings that hold secrets, each of which can also be given as a file: `NAME_FILE=/run/secrets/name` reads the
 * value from the file (as Docker and Kubernetes mount secrets), so it never sits in the process environment, where
 * `docker inspect`, `ps e` and crash reports show it.
 */
export const FILE_SETTINGS = new Set([
  'TCA_DATABASE_URL',
  'TCA_SECRET_KEY',
  'TCA_SECRET_KEY_PREVIOUS',
  'TCA_X_CONSUMER_KEY',
  'TCA_X_CONSUMER_SECRET',
  'TCA_X_ACCESS_TOKEN',
  'TCA_X_ACCESS_TOKEN_SECRET',
  'TCA_AUDIT_FORWARD_URL',
  'TCA_AUDIT_FORWARD_TOKEN',
  'TCA_ALERT_WEBHOOK_URL',
  'TCA_ALERT_WEBHOOK_SECRET',
  'TCA_ALERT_PAGERDUTY_ROUTING_KEY',
  'TCA_SMTP_URL',
  'TCA_TOKEN',
]);

type Env = Record<string, string | undefined>;

/**
 * The value of `name`: the variable itself, or the content of the file `name_FILE` names (surrounding whitespace and
 * the final newline removed). Undefined when neither is set; a problem when both are, or the file cannot be read or
 * is empty (the value is never part of a message).
 *
 * @example
 * readSetting({ TCA_SECRET_KEY_FILE: '/run/secrets/tca-key' }, 'TCA_SECRET_KEY'); // { value: '9f86d0…' }
 */
export function readSetting(
  env: Env,
  name: string,
  cwd: string = process.cwd(),
): { value: string | undefined; problem?: ConfigProblem } {
  const raw = env[name];
  const direct = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  const fileVariable = `${name}_FILE`;
  const path = FILE_SETTINGS.has(name) ? env[fileVariable]?.trim() : undefined;
  if (!path) return { value: direct };
  if (direct !== undefined)
    return {
      value: direct,
      problem: { variable: fileVariable, message: `is set as well as ${name}: set only one of them` },
    };
  let text: string;
  try {
    text = readFileSync(resolve(cwd, path), 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return {
      value: undefined,
      problem: {
        variable: fileVariable,
        message: `names ${path}, which cannot be read (${code}); mount the secret there, or unset ${fileVariable}`,
      },
    };
  }
  if (text === '')
    return {
      value: undefined,
      problem: { variable: fileVariable, message: `names ${path}, which is empty` },
    };
  return { value: text };
}
