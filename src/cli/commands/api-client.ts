import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { describeNetworkFailure } from '../../net/network-failure.ts';
import { readSetting } from '../../config/secret-env.ts';

/** Exit codes of every `tca` command that talks to the service (also listed in docs/operations.md). */
export const EXIT = {
  ok: 0,
  /**
   * The service refused the request (validation, conflict), a check failed (e.g. a failing preflight), or what was
   * asked did not all happen (e.g. a flush that left an audience undelivered).
   */
  refused: 1,
  /** Bad command-line usage (commander). */
  usage: 2,
  /** The service could not be reached, or the token was missing/invalid/lacking a permission. */
  unavailable: 3,
  notFound: 4,
  /** The service failed (5xx). */
  serverError: 5,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly details: Array<{ path: string; reason: string }> = [],
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds --url, --token and --json to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'service URL').env('TCA_URL'))
    .addOption(
      new Option('--token <token>', 'API token (default: TCA_DATA_DIR/admin-token)').env('TCA_TOKEN'),
    )
    .option('--json', 'print JSON (for scripts)');
}

export interface Api {
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T>;
  /** Sends `body` as is: a string, or a stream of bytes (sent chunked, as it is read). */
  raw(
    method: string,
    path: string,
    body: string | ReadableStream<Uint8Array>,
    headers: Record<string, string>,
  ): Promise<Response>;
}

/**
 * A setting the CLI reads from its environment, directly or from the file `NAME_FILE` names (see `FILE_SETTINGS`); a
 * file that cannot be read ends the command with exit 2.
 */
export function envSetting(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const { value, problem } = readSetting(env, name);
  if (problem) throw new CliError(`${problem.variable} ${problem.message}`, EXIT.usage);
  return value;
}

export async function resolveConnection(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; token: string }> {
  const url = (opts.url ?? env['TCA_URL'] ?? `http://127.0.0.1:${env['TCA_PORT'] ?? '8080'}`).replace(
    /\/+$/,
    '',
  );
  let token = opts.token || envSetting('TCA_TOKEN', env);
  if (token === undefined) {
    const file = join(resolve(env['TCA_DATA_DIR'] ?? './data'), 'admin-token');
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch {
      throw new CliError(
        `No token: set TCA_TOKEN or --token (the admin token is in TCA_DATA_DIR/admin-token; looked at ${file})`,
        EXIT.unavailable,
      );
    }
  }
  return { url, token };
}

export async function connect(opts: GlobalOptions): Promise<Api> {
  const { url, token } = await resolveConnection(opts);
  const raw = async (
    method: string,
    path: string,
    body: string | ReadableStream<Uint8Array> | undefined,
    headers: Record<string, string>,
  ) => {
    try {
      return await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...headers },
        ...(body === undefined ? {} : { body }),
        // A streamed body goes out as it is read (Node's fetch requires saying so).
        ...(typeof body === 'object' ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (e) {
      const failure = describeNetworkFailure(e);
      throw new CliError(
        failure.proxyStatus === null
          ? `Cannot reach the service at ${url} (${failure.reason}); is \`tca start\` running? Set TCA_URL otherwise.`
          : `Cannot reach the service at ${url}: ${failure.reason}. ${failure.hint}`,
        EXIT.unavailable,
      );
    }
  };
  return {
    raw: (method, path, body, headers) => raw(method, path, body, headers),
    async request<T>(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<T> {
      const res = await raw(method, path, body === undefined ? undefined : JSON.stringify(body), {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      });
      return handleResponse<T>(res);
    },
  };
}

export async function handleResponse<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let doc: unknown;
  try {
    doc = text === '' ? undefined : JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (res.ok) return doc as T;
  const err = (
    doc as
      | { error?: { code?: string; message?: string; details?: Array<{ path: string; reason: string }> } }
      | undefined
  )?.error;
  const message = err?.message ?? `HTTP ${res.status}`;
  const code =
    res.status === 401 || res.status === 403
      ? EXIT.unavailable
      : res.status === 404
        ? EXIT.notFound
        : res.status >= 500
          ? EXIT.serverError
          : EXIT.refused;
  throw new CliError(message, code, err?.details ?? []);
}

/** Runs a command action with uniform error output and exit codes. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<number | void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command | undefined;
    const json = Boolean((cmd?.opts?.() as GlobalOptions | undefined)?.json);
    try {
      const code = await fn(...args);
      process.exitCode = code ?? EXIT.ok;
    } catch (e) {
      if (e instanceof CliError) {
        if (json) {
          process.stdout.write(
            JSON.stringify({ error: { message: e.message, details: e.details } }, null, 2) + '\n',
          );
        } else {
          process.stderr.write(`error: ${e.message}\n`);
          for (const d of e.details) process.stderr.write(`  - ${d.path}: ${d.reason}\n`);
        }
        process.exitCode = e.exitCode;
        return;
      }
      throw e;
    }
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A plain aligned table. */
/** A rate from 0 to 1 as a table cell: `89.5%`, or `-` when there is none. */
export const percent = (rate: unknown): string =>
  typeof rate === 'number' ? `${(rate * 100).toFixed(1)}%` : '-';

export function printTable(rows: Array<Record<string, unknown>>, columns: string[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cell = (v: unknown) =>
    v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(line(columns.map((c) => c.toUpperCase())) + '\n');
  for (const r of rows) process.stdout.write(line(columns.map((c) => cell(r[c]))) + '\n');
}

/** A comma-separated option value as its items (see `splitList`). */
export { splitList } from '../../text/split-list.ts';

export function examples(lines: string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  $ ${l}`).join('\n') + '\n';
}

/**
 * An option parser for a whole number from `min` to `max`; anything else is a usage error that says the range.
 *
 * @example
 * program.option('--limit <n>', 'how many', wholeNumber(1, 500), 20);
 */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`a whole number from ${min} to ${max}`);
    return n;
  };
}
