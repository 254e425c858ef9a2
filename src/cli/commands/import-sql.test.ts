import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csvField } from '../../profile/index.ts';

describe('csvField', () => {
  it('writes fields that a CSV parser reads back as they were, separators, quotes and line breaks included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 }),
        (rows) => {
          const width = rows[0]!.length;
          const table = rows.map((r) => Array.from({ length: width }, (_, i) => r[i] ?? ''));
          const text = table.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
          expect(parse(text, { relax_column_count: false })).toEqual(table);
        },
      ),
    );
  });

  it('writes SQL values as text: null empty, dates as ISO, objects as JSON', () => {
    expect([null, undefined, true, 12, new Date(Date.UTC(2026, 0, 2)), { a: 1 }].map(csvField)).toEqual([
      '',
      '',
      'true',
      '12',
      '2026-01-02T00:00:00.000Z',
      '"{""a"":1}"',
    ]);
  });
});
