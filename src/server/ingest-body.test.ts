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

  it('never quotes the body in a syntax error: it holds identities', () => {
    for (const body of [
      'jane@example.com',
      '{"email": jane@example.com}',
      '[{"id":"jane@example.com"}] jane',
    ]) {
      let details: Array<{ path: string; reason: string }> = [];
      try {
        parseIngestBody(body, 'application/json', 10);
      } catch (error) {
        details = (error as { details: typeof details }).details;
      }
      expect(details).toHaveLength(1);
      expect(details[0]!.path).toBe('$');
      expect(details[0]!.reason).not.toContain('jane');
    }
    expect(() => parseIngestBody(' \n', 'application/json', 10)).toThrow(
      expect.objectContaining({ details: [{ path: '$', reason: 'empty body' }] }),
    );
  });

  it('numbers NDJSON items by their line, blank lines skipped, and marks a line that is no JSON', () => {
    const line = JSON.stringify(profile);
    const body = parseIngestBody(
      `\r\n${line}\r\n\n{ "email": "jane@example.com",\n${line}`,
      'application/x-ndjson',
      10,
    );
    expect(body.lines).toEqual([2, 4, 5]);
    expect([...body.lineErrors]).toEqual([[1, { path: '$', reason: 'not valid JSON' }]]);
    expect(parseIngestBody(JSON.stringify([profile]), 'application/json', 10).lines).toBeUndefined();
  });
});
