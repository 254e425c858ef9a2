/**
 * The system the browser tests drive: the X Ads API emulator and `tca start`, each a child process on loopback, with
 * a fresh data directory; plus the console build they serve.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TCA = join(REPO_ROOT, 'bin', 'tca.js');

export interface Stack {
  /** The service (API + console), e.g. http://127.0.0.1:41234 */
  url: string;
  emulatorUrl: string;
  adminToken: string;
  dataDir: string;
  /** What the children printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Thrown from a `waitFor` check to stop waiting at once (a child process died, say). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `check` until it returns a value other than undefined, or fails with `what` after `timeoutMs`. Errors from
 * `check` count as "not yet", except GiveUp.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function child(args: string[], env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  const proc = spawn(process.execPath, [TCA, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const name = args[0] ?? 'tca';
  proc.stdout?.on('data', (chunk: Buffer) => log.push(`[${name}] ${chunk.toString()}`));
  proc.stderr?.on('data', (chunk: Buffer) => log.push(`[${name}!] ${chunk.toString()}`));
  return proc;
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Starts the emulator (`tca emulator`) and the service (`tca start`) pointing at it; `env` adds service settings. */
export async function startStack(options: { env?: Record<string, string> } = {}): Promise<Stack> {
  const log: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'tca-browser-'));
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const proc of children.reverse()) await stopChild(proc);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const emulator = child(['emulator', '--port', '0', '--processing-delay', '0'], baseEnv, log);
    children.push(emulator);
    const emulatorUrl = await waitFor(
      'the emulator to print its URL',
      async () => {
        if (emulator.exitCode !== null) throw new GiveUp(`tca emulator exited with ${emulator.exitCode}`);
        return /listening on (http:\/\/\S+)/.exec(log.join(''))?.[1];
      },
      60_000,
    );

    const port = await freePort();
    const service = child(
      ['start'],
      {
        ...baseEnv,
        TCA_DATA_DIR: dataDir,
        TCA_PORT: String(port),
        TCA_HOST: '127.0.0.1',
        TCA_X_API_BASE_URL: emulatorUrl,
        TCA_LOG_LEVEL: 'warn',
        TCA_DEMO: 'false',
        ...options.env,
      },
      log,
    );
    children.push(service);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      'tca start to answer /readyz',
      async () => {
        if (service.exitCode !== null) throw new GiveUp(`tca start exited with ${service.exitCode}`);
        const response = await fetch(`${url}/readyz`);
        return response.ok ? true : undefined;
      },
      90_000,
    );
    const tokenFile = join(dataDir, 'admin-token');
    const adminToken = readFileSync(tokenFile, 'utf8').trim();
    return { url, emulatorUrl, adminToken, dataDir, output: () => log.join(''), stop };
  } catch (error) {
    await stop();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\n--- child output ---\n${log.join('').slice(-4000)}`, { cause: error });
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the console into web/dist when the build is missing or older than its sources. */
export async function ensureConsoleBuild(): Promise<void> {
  const index = join(REPO_ROOT, 'web', 'dist', 'index.html');
  const sources = Math.max(
    newestMtime(join(REPO_ROOT, 'web', 'src')),
    statSync(join(REPO_ROOT, 'web', 'index.html')).mtimeMs,
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: join(REPO_ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
}

/** Calls the service's API as a script would (profiles are ingested this way, not through the console). */
export async function callApi<T>(stack: Stack, method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${stack.url}/api/v1${path}`, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Debian's Chromium, which the browser tests drive (they are skipped where it is missing). */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium with a profile of its own, at 1280×900; `close()` ends it and removes the profile. */
export async function launchChromium(): Promise<{
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'tca-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Signs the console in with the stack's admin token and waits for its first page. */
export async function signIn(page: Page, stack: Stack): Promise<void> {
  await page.goto(`${stack.url}/`);
  await page.getByLabel('API token').fill(stack.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Destinations', level: 1 }).waitFor();
}
