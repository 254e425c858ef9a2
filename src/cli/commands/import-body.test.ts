import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importBody, type LineLocator, type Part } from './import-body.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tca-import-body-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function part(name: string, content: string | Buffer): Part {
  const path = join(dir, name);
  writeFileSync(path, content);
  return { kind: 'file', name: path, url: null, size: Buffer.byteLength(content), version: '', ranges: true };
}

/** What is sent for the parts, and where each line of it came from (known once it is all read). */
async function sent(
  parts: Part[],
  format: 'csv' | 'ndjson' | 'parquet',
): Promise<{ text: string; locate: LineLocator }> {
  const { body, locate } = await importBody(parts, format);
  const chunks: Buffer[] = [];
  for await (const chunk of await body(() => undefined)) chunks.push(chunk as Buffer);
  return { text: Buffer.concat(chunks).toString('utf8'), locate: await locate() };
}

const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `k${from + i},person.${from + i}@example.com,1`);

describe('importBody', () => {
  it('joins CSV parts under the first header, however many reads a part takes, and names each line by its part', async () => {
    const header = 'profile_key,email,segment:seg';
    // Parts far larger than one read (64 KiB), one gzipped, the last without a final line break.
    const parts = [
      part('a.csv', `${[header, ...rows(0, 3)].join('\n')}\n`),
      part('b.csv.gz', gzipSync(`${[header, ...rows(3, 20_003)].join('\n')}\n`)),
      part('c.csv', [header, ...rows(20_003, 30_003)].join('\n')),
    ];
    const { text, locate } = await sent(parts, 'csv');
    expect(text).toBe(`${[header, ...rows(0, 30_003)].join('\n')}\n`);
    expect(locate(1)).toEqual({ path: parts[0]!.name, line: 1 });
    expect(locate(4)).toEqual({ path: parts[0]!.name, line: 4 });
    // Line 5 is the first row of b.csv.gz: its own line 2.
    expect(locate(5)).toEqual({ path: parts[1]!.name, line: 2 });
    expect(locate(20_004)).toEqual({ path: parts[1]!.name, line: 20_001 });
    expect(locate(20_005)).toEqual({ path: parts[2]!.name, line: 2 });
    expect(locate(30_004)).toEqual({ path: parts[2]!.name, line: 10_001 });
    expect(locate(30_005)).toBeNull();
  });

  it('refuses CSV parts whose headers differ, before sending anything', async () => {
    const parts = [
      part('a.csv', 'profile_key,email\nk1,a@x.com\n'),
      part('b.csv', 'profile_key,phone\nk2,+1\n'),
    ];
    await expect(importBody(parts, 'csv')).rejects.toMatchObject({
      message: expect.stringContaining('do not share one header'),
      details: [
        { path: parts[0]!.name, reason: 'profile_key,email' },
        { path: parts[1]!.name, reason: 'profile_key,phone' },
      ],
    });
  });

  it('joins NDJSON parts, ending a part without a final line break before the next', async () => {
    const parts = [part('a.ndjson', '{"a":1}\n{"a":2}'), part('b.ndjson.gz', gzipSync('{"a":3}\n'))];
    const { text, locate } = await sent(parts, 'ndjson');
    expect(text).toBe('{"a":1}\n{"a":2}\n{"a":3}\n');
    expect(locate(3)).toEqual({ path: parts[1]!.name, line: 1 });
  });

  it('sends Parquet parts as the CSV rows of each under one header, numbered by part', async () => {
    const parts = [0, 1].map((p) => {
      const path = join(dir, `part-${p}.parquet`);
      const keys = Array.from({ length: 3 }, (_, i) => `k${p * 3 + i}`);
      parquetWriteFile({
        filename: path,
        columnData: [
          { name: 'profile_key', data: keys, type: 'STRING' },
          { name: 'email', data: keys.map((k) => `${k}@x.com`), type: 'STRING' },
        ],
      });
      return { kind: 'file' as const, name: path, url: null, size: 0, version: '', ranges: true };
    });
    const { text, locate } = await sent(parts, 'parquet');
    expect(text).toBe(
      `profile_key,email\n${Array.from({ length: 6 }, (_, i) => `k${i},k${i}@x.com`).join('\n')}\n`,
    );
    // Line 5 (row 4) is the first row of the second part: line 2 of the CSV it reads as.
    expect(locate(5)).toEqual({ path: parts[1]!.name, line: 2 });
  });
});
