import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startObjectServer } from '../../../test/fixtures/object-server.ts';
import { EXIT } from './api-client.ts';
import { importBody } from './import-body.ts';
import { resolvePart } from './import-source.ts';

// Parts read from signed URLs of an object store on loopback (see the fixture: GET only, a signature required).

let objects: Awaited<ReturnType<typeof startObjectServer>>;
let dir: string;

beforeAll(async () => {
  objects = await startObjectServer();
  dir = mkdtempSync(join(tmpdir(), 'tca-import-source-'));
});
afterAll(async () => {
  await objects.close();
  rmSync(dir, { recursive: true, force: true });
});

async function drain(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `k${from + i},person.${from + i}@example.com,1`);
const HEADER = 'profile_key,email,segment:seg';

describe('import parts at URLs', () => {
  it('names a signed URL without its query, learns its size with a one-byte GET, and never asks with HEAD', async () => {
    objects.put('/exports/a.csv', { body: Buffer.from(`${HEADER}\n${rows(0, 5).join('\n')}\n`) });
    const from = objects.requests.length;
    const part = await resolvePart(objects.url('/exports/a.csv'));
    expect(part.name).toBe(objects.url('/exports/a.csv').split('?')[0]);
    expect(part.size).toBe(Buffer.byteLength(`${HEADER}\n${rows(0, 5).join('\n')}\n`));
    expect(part.ranges).toBe(true);
    expect(objects.requests.slice(from)).toEqual([
      { method: 'GET', path: '/exports/a.csv', range: 'bytes=0-0', status: 206 },
    ]);
    // Signed again (another query), the same object is the same part: the default import key does not change.
    const again = await resolvePart(objects.url('/exports/a.csv').replace('expires=3600', 'expires=60'));
    expect(again.version).toBe(part.version);
    const { body } = await importBody([part], 'csv');
    expect(await drain(await body(() => undefined))).toBe(`${HEADER}\n${rows(0, 5).join('\n')}\n`);
  });

  it('joins a gzip part at a URL with a part on disk, and names lines by the URL without its query', async () => {
    objects.put('/exports/b.csv.gz', { body: gzipSync(`${HEADER}\n${rows(3, 20_003).join('\n')}\n`) });
    const local = join(dir, 'a.csv');
    writeFileSync(local, `${HEADER}\n${rows(0, 3).join('\n')}\n`);
    const parts = [await resolvePart(local), await resolvePart(objects.url('/exports/b.csv.gz'))];
    const { body, locate } = await importBody(parts, 'csv');
    let bytes = 0;
    expect(await drain(await body((read) => (bytes = read)))).toBe(
      `${HEADER}\n${rows(0, 20_003).join('\n')}\n`,
    );
    // The bytes read are the files' as stored: the gzip part counts compressed.
    expect(bytes).toBe(parts[0]!.size! + parts[1]!.size!);
    expect((await locate())(5)).toEqual({ path: parts[1]!.name, line: 2 });
    expect(parts[1]!.name).not.toContain('signature');
  });

  it('reads a Parquet object by byte ranges, and refuses one served whole', async () => {
    const path = join(dir, 'members.parquet');
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    parquetWriteFile({
      filename: path,
      columnData: [
        { name: 'profile_key', data: keys, type: 'STRING' },
        { name: 'email', data: keys.map((k) => `${k}@x.com`), type: 'STRING' },
      ],
    });
    objects.put('/exports/m.parquet', { body: readFileSync(path) });
    const from = objects.requests.length;
    const part = await resolvePart(objects.url('/exports/m.parquet'));
    const { body } = await importBody([part], 'parquet');
    expect(await drain(await body(() => undefined))).toBe(
      `profile_key,email\n${keys.map((k) => `${k},${k}@x.com`).join('\n')}\n`,
    );
    const asked = objects.requests.slice(from);
    expect(asked.length).toBeGreaterThan(1);
    expect(asked.every((r) => r.method === 'GET' && r.range !== null && r.status === 206)).toBe(true);

    objects.put('/exports/whole.parquet', { body: readFileSync(path), ranges: false });
    const whole = await resolvePart(objects.url('/exports/whole.parquet'));
    expect(whole.ranges).toBe(false);
    await expect(importBody([whole], 'parquet')).rejects.toMatchObject({
      exitCode: EXIT.refused,
      message: expect.stringContaining('served without byte ranges'),
    });
  });

  it('says what to do about refused, missing, unreachable and cloud-scheme sources, never printing the signature', async () => {
    objects.put('/exports/c.csv', { body: Buffer.from(`${HEADER}\n`) });
    const refused = resolvePart(objects.url('/exports/c.csv', 'sig-4f2a9c'));
    await expect(refused).rejects.toMatchObject({
      exitCode: EXIT.refused,
      message: expect.stringContaining('sign a new one for reading (GET)'),
    });
    await expect(refused).rejects.toMatchObject({ message: expect.not.stringContaining('sig-4f2a9c') });
    await expect(resolvePart(objects.url('/exports/none.csv'))).rejects.toMatchObject({
      exitCode: EXIT.notFound,
    });
    await expect(resolvePart('http://127.0.0.1:9/exports/c.csv?signature=ok')).rejects.toMatchObject({
      exitCode: EXIT.unavailable,
      message: expect.not.stringContaining('signature'),
    });
    await expect(resolvePart('s3://bucket/exports/c.csv')).rejects.toMatchObject({
      exitCode: EXIT.usage,
      message: expect.stringContaining('aws s3 presign'),
    });
    await expect(resolvePart('gs://bucket/exports/c.csv')).rejects.toMatchObject({
      message: expect.stringContaining('gcloud storage sign-url'),
    });
  });

  it('fails a read cut short as unavailable, so the upload attempt is tried again', async () => {
    const content = `${HEADER}\n${rows(0, 20_000).join('\n')}\n`;
    objects.put('/exports/d.csv', { body: Buffer.from(content), cutAfter: 100_000 });
    const part = await resolvePart(objects.url('/exports/d.csv'));
    const { body } = await importBody([part], 'csv');
    await expect(drain(await body(() => undefined))).rejects.toMatchObject({
      exitCode: EXIT.unavailable,
      message: expect.stringContaining(part.name),
    });
    // The next read gets the whole object.
    expect(await drain(await body(() => undefined))).toBe(content);
  });
});

describe('import parts on disk', () => {
  it('refuses a directory or a missing path as a usage error saying which, before reading anything', async () => {
    const folder = mkdtempSync(join(dir, 'export-'));
    await expect(resolvePart(folder)).rejects.toMatchObject({
      exitCode: EXIT.usage,
      message: expect.stringContaining(`${folder} is a directory, not a file: name the files in it`),
    });
    const missing = join(dir, 'missing.csv');
    await expect(resolvePart(missing)).rejects.toMatchObject({
      exitCode: EXIT.usage,
      message: `Cannot read ${missing}: no such file`,
    });
  });
});
