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
});
