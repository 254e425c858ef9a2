import { describe, expect, it } from 'vitest';
import { parquetCell } from './parquet-rows.ts';

describe('parquetCell', () => {
  it('writes each Parquet value as the CSV cell the profile model reads', () => {
    expect(
      [
        null,
        undefined,
        'a@example.com',
        true,
        false,
        12,
        9007199254740993n,
        new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
        new TextEncoder().encode('ümlaut@example.com'),
        ['a@example.com', null, '', 'b@example.com'],
        [],
      ].map(parquetCell),
    ).toEqual([
      '',
      '',
      'a@example.com',
      'true',
      'false',
      '12',
      '9007199254740993',
      '2026-01-02T03:04:05.000Z',
      'ümlaut@example.com',
      'a@example.com|b@example.com',
      '',
    ]);
  });
});
