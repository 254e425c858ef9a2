import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveConsole } from './static-files.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tca-static-'));
  await mkdir(join(dir, 'dist', 'assets'), { recursive: true });
  await writeFile(join(dir, 'dist', 'index.html'), '<html>console</html>');
  await writeFile(join(dir, 'dist', 'assets', 'app-1a2b.js'), 'console.log(1)');
  await writeFile(join(dir, 'secret.txt'), 'outside');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('serveConsole', () => {
  it('serves files with their type, and fingerprinted assets as immutable', async () => {
    const res = await serveConsole(join(dir, 'dist'))('/assets/app-1a2b.js');
    expect(res!.headers.get('content-type')).toContain('javascript');
    expect(res!.headers.get('cache-control')).toContain('immutable');
    expect(await res!.text()).toBe('console.log(1)');
  });

  it('answers client-side routes with index.html (SPA fallback)', async () => {
    const res = await serveConsole(join(dir, 'dist'))('/dataflows/df_1/runs');
    expect(await res!.text()).toBe('<html>console</html>');
    expect(res!.headers.get('cache-control')).toBe('no-cache');
  });

  it('never serves files outside the build', async () => {
    const res = await serveConsole(join(dir, 'dist'))('/../secret.txt');
    expect(res === undefined || (await res.text()) !== 'outside').toBe(true);
    const encoded = await serveConsole(join(dir, 'dist'))('/%2e%2e/secret.txt');
    expect(encoded).toBeUndefined();
  });

  it('explains how to build the console when it is missing', async () => {
    const res = await serveConsole(join(dir, 'nothing'))('/');
    expect(await res!.text()).toContain('not built');
  });
});
