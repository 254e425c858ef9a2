import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { canResume, importBlob } from './import-files.ts';

// The body the Import tab uploads for several parts of one export (Node's File and Blob are the browser's).

const header = 'profile_key,email,segment:s';
const file = (name: string, content: string | Uint8Array) =>
  new File([typeof content === 'string' ? content : new Uint8Array(content)], name);
/** The body's text as sent (`Blob.text()` would drop a byte order mark). */
const sent = async (blob: Blob) => Buffer.from(await blob.arrayBuffer()).toString('utf8');

describe('importBlob', () => {
  it('joins CSV parts under the first header: plain parts as slices, gzip ones decompressed, each ended', async () => {
    const blob = await importBlob(
      [
        file('part-0.csv', `\uFEFF${header}\r\nk0,a@x.com,1\r\n`),
        file('part-1.csv.gz', gzipSync(`${header}\nk1,b@x.com,1`)),
        file('part-2.csv', `${header}\r\nk2,"c\nd",1`),
        file('part-3.csv', `${header}\n`),
        file('part-4.csv', `${header}`),
        file('part-5.csv', `${header}\nk5,é@x.com,1\n`),
      ],
      'csv',
    );
    expect(await sent(blob)).toBe(
      `\uFEFF${header}\r\nk0,a@x.com,1\r\nk1,b@x.com,1\nk2,"c\nd",1\nk5,é@x.com,1\n`,
    );
  });

  it('finds a header longer than the first read', async () => {
    const long = `${header},${Array.from({ length: 20_000 }, (_, i) => `c${i}`).join(',')}`;
    const blob = await importBlob([file('a.csv', `${long}\nk0\n`), file('b.csv', `${long}\nk1\n`)], 'csv');
    expect(await sent(blob)).toBe(`${long}\nk0\nk1\n`);
  });

  it('refuses CSV parts whose headers differ, naming both', async () => {
    await expect(
      importBlob([file('a.csv', `${header}\nk0\n`), file('b.csv', 'profile_key,phone\nk1\n')], 'csv'),
    ).rejects.toMatchObject({
      code: 'invalid_file',
      details: [
        { path: 'a.csv', reason: header },
        { path: 'b.csv', reason: 'profile_key,phone' },
      ],
    });
  });

  it('puts NDJSON parts one after another, each on lines of its own', async () => {
    const blob = await importBlob(
      [
        file('a.ndjson', '{"a":1}'),
        file('b.ndjson.gz', gzipSync('{"b":2}\n')),
        file('c.ndjson', '{"c":3}\n'),
      ],
      'ndjson',
    );
    expect(await sent(blob)).toBe('{"a":1}\n{"b":2}\n{"c":3}\n');
  });
});

describe('canResume', () => {
  it('offers a resume only for an import that stopped after writing rows', () => {
    expect(canResume({ status: 'interrupted', rowsCommitted: 20_000 })).toBe(true);
    expect(canResume({ status: 'failed', rowsCommitted: 1 })).toBe(true);
    // A CSV whose header was refused stops before its first batch: nothing to resume.
    expect(canResume({ status: 'failed', rowsCommitted: 0 })).toBe(false);
    expect(canResume({ status: 'interrupted', rowsCommitted: 0 })).toBe(false);
    expect(canResume({ status: 'complete', rowsCommitted: 3 })).toBe(false);
    expect(canResume({ status: 'running', rowsCommitted: 3 })).toBe(false);
  });
});
