import { describe, expect, it } from 'vitest';
import { fileFormatOf } from './file-format.ts';

describe('fileFormatOf', () => {
  it('reads the format from the extension, a .gz suffix aside, and takes anything else for NDJSON', () => {
    expect(
      ['a.csv', 'A.CSV.GZ', 'b.json', 'b.json.gz', 'c.parquet', 'd.ndjson', 'e.jsonl.gz', 'f'].map(
        fileFormatOf,
      ),
    ).toEqual(['csv', 'csv', 'json', 'json', 'parquet', 'ndjson', 'ndjson', 'ndjson']);
  });
});
