import { describe, expect, it } from 'vitest';
import { JsonArraySplitter } from './json-array-splitter.ts';

function split(text: string, size: number): { items: string[]; error: string | null } {
  const s = new JsonArraySplitter();
  const items: string[] = [];
  for (let i = 0; i < text.length; i += size) items.push(...s.push(text.slice(i, i + size)));
  s.end();
  return { items, error: s.error };
}

describe('JsonArraySplitter', () => {
  const doc = JSON.stringify([{ a: '[x]', b: { c: [1, 2] } }, { d: 'q"}' }, 3, 'str,]']);
  it.each([1, 2, 3, 7, 1000])('splits elements for chunk size %i', (size) => {
    const { items, error } = split(doc, size);
    expect(error).toBeNull();
    expect(items.map((t) => JSON.parse(t) as unknown)).toEqual(JSON.parse(doc));
  });
  it('handles an empty array', () => expect(split(' [ ] ', 2)).toEqual({ items: [], error: null }));
  it('reports a non-array and an unclosed array', () => {
    expect(split('{"a":1}', 3).error).toMatch(/does not start/);
    expect(split('[{"a":1}', 3).error).toMatch(/not closed/);
  });
  it('says a file is empty, or starts with an object, rather than that an array is not closed', () => {
    expect(split('', 3).error).toMatch(/empty/);
    expect(split('  \n', 3).error).toMatch(/empty/);
    expect(split('{"a":1}\n{"a":2}\n', 3).error).toMatch(/with "\{".*NDJSON/);
  });
  it.each([1, 2, 5, 1000])(
    'refuses anything but spaces after the closing bracket (chunk size %i), not dropping it in silence',
    (size) => {
      expect(split('[{"a":1}] \r\n\t', size)).toEqual({ items: ['{"a":1}'], error: null });
      expect(split('[1]\n', size)).toEqual({ items: ['1'], error: null });
      for (const doc of ['[{"a":1}][{"b":2}]', '[{"a":1}]\n[{"b":2}]', '[{"a":1}] x', '[1],2', '[]]'])
        expect(split(doc, size).error, doc).toMatch(/goes on after the array's closing "\]"/);
    },
  );
});
