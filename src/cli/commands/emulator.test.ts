import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultDemoSeed } from '../../emulator/index.ts';
import { formatEmulatorBanner } from './emulator.ts';

const TCA = join(import.meta.dirname, '../../../bin/tca.js');

/** Starts `tca emulator …` and resolves with the process once its banner names the URL. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, [TCA, 'emulator', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no banner within 30 s: ${out}${err}`)), 30_000);
    const check = (): void => {
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(deadline);
        resolve(url);
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(deadline);
      reject(new Error(`exited early: ${out}${err}`));
    });
  });
  return { child, ready, exited, output: () => out, errors: () => err };
}

describe('tca emulator', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it('prints the base URL and the demo credentials', () => {
    const banner = formatEmulatorBanner('http://127.0.0.1:9090', defaultDemoSeed());
    expect(banner).toContain('listening on http://127.0.0.1:9090');
    expect(banner).toContain('consumer_key=demo-consumer-key consumer_secret=demo-consumer-secret');
    expect(banner).toContain('token=2417045708-demo-access-token token_secret=demo-access-token-secret');
    expect(banner).toContain('account  id=18ce54d4x5t');
  });

  it('serves a seed file over HTTP and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tca-emulator-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const seedFile = join(dir, 'seed.json');
    await writeFile(
      seedFile,
      JSON.stringify({
        apps: [{ consumer_key: 'ck', consumer_secret: 'cs' }],
        users: [{ user_id: '7', consumer_key: 'ck', token: '7-t', token_secret: 'ts' }],
        accounts: [
          { id: 'acc1', name: 'Seeded', access: [{ user_id: '7', permissions: ['ACCOUNT_ADMIN'] }] },
        ],
      }),
    );
    const cli = startCli(['--port', '0', '--seed', seedFile]);
    cleanups.push(async () => {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    });
    const url = await cli.ready;
    expect(cli.output()).toContain('token=7-t token_secret=ts');
    const processed = await fetch(`${url}/_emulator/process`, { method: 'POST' });
    expect(await processed.json()).toEqual({ data: { processed: 0 } });
    const unsigned = await fetch(`${url}/12/accounts/acc1`);
    expect(unsigned.status).toBe(401);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toContain('stopped');
  });

  it('refuses an invalid seed file, naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tca-emulator-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const seedFile = join(dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify({ apps: [{ consumer_key: 'ck' }] }));
    const cli = startCli(['--port', '0', '--seed', seedFile]);
    await expect(cli.ready).rejects.toThrow('exited early');
    expect(await cli.exited).toBe(2);
    expect(cli.errors()).toContain('apps.0.consumer_secret');
  });
});
