import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLineChunks } from './import-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'tca-line-chunks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function chunksOf(text: string, lines: number, readSize: number) {
  const file = join(dir, `f-${lines}-${readSize}.ndjson`);
  writeFileSync(file, text);
  const progress = { bytesRead: 0 };
  const chunks: Array<{ text: string; firstLine: number }> = [];
  for await (const { chunk, firstLine } of readLineChunks(file, lines, progress, readSize))
    chunks.push({ text: chunk.toString('utf8'), firstLine });
  return { chunks, bytesRead: progress.bytesRead };
}

describe('readLineChunks', () => {
  // Multi-byte characters, CRLF, empty lines and no final newline; tiny reads cut through all of them.
  const text = ['{"a":"Zoë"}', '', '{"b":"東京"}\r', '{"c":1}', '', '', '{"d":"ü"}', '{"e":2}'].join('\n');

  for (const readSize of [1, 2, 3, 7, 64]) {
    it(`cuts whole lines in chunks of N lines, read ${readSize} bytes at a time`, async () => {
      const { chunks, bytesRead } = await chunksOf(text, 3, readSize);
      expect(bytesRead).toBe(Buffer.byteLength(text));
      expect(chunks.map((c) => c.text).join('')).toBe(text);
      expect(chunks.map((c) => c.firstLine)).toEqual([1, 4, 7]);
      for (const chunk of chunks.slice(0, -1)) {
        expect(chunk.text.endsWith('\n')).toBe(true);
        expect(chunk.text.split('\n')).toHaveLength(4);
      }
      expect(chunks.at(-1)!.text).toBe('{"d":"ü"}\n{"e":2}');
    });
  }

  it('yields nothing for an empty file and no empty chunk after a final newline', async () => {
    expect((await chunksOf('', 2, 4)).chunks).toEqual([]);
    const { chunks } = await chunksOf('1\n2\n3\n4\n', 2, 3);
    expect(chunks).toEqual([
      { text: '1\n2\n', firstLine: 1 },
      { text: '3\n4\n', firstLine: 3 },
    ]);
  });
});
