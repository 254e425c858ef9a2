import { describe, expect, it } from 'vitest';
import { parseIngestBody } from './ingest-body.ts';

const profile = { identityMap: { Email: [{ id: 'jane@example.com' }] }, segmentMembership: { ups: {} } };

describe('parseIngestBody', () => {
  it('reads a JSON body that starts with a byte order mark, as NDJSON does', () => {
    const json = parseIngestBody(`\ufeff${JSON.stringify([profile])}`, 'application/json', 10);
    expect(json.items).toEqual([profile]);
    const ndjson = parseIngestBody(`\ufeff${JSON.stringify(profile)}\n`, 'application/x-ndjson', 10);
    expect(ndjson.items).toEqual([profile]);
  });

  it('still refuses a body that is no JSON', () => {
    expect(() => parseIngestBody('\ufeff{"a":', 'application/json', 10)).toThrow(/not valid JSON/);
  });
});
