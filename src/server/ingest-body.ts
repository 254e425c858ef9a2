import type { ErrorDetail } from './api-error.ts';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './api-error.ts';
import { mediaType } from './route-def.ts';

/**
 * Splits an ingest body into items: one JSON object, a JSON array of objects, or NDJSON (one object per line).
 * Syntax errors in NDJSON are per line (the line becomes a rejected item); a malformed JSON document rejects the request.
 * For NDJSON, `lines` gives each item's line in the body (1-based; blank lines are no items, so the two differ).
 */
export function parseIngestBody(
  text: string,
  contentType: string,
  maxItems: number,
): { items: unknown[]; lineErrors: Map<number, ErrorDetail>; lines?: number[] } {
  const ct = mediaType(contentType);
  const lineErrors = new Map<number, ErrorDetail>();
  if (ct === 'application/x-ndjson' || ct === 'application/ndjson' || ct === 'application/jsonl') {
    const items: unknown[] = [];
    const numbers: number[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      if (items.length >= maxItems) throw tooMany(maxItems);
      numbers.push(i + 1);
      try {
        items.push(JSON.parse(line));
      } catch {
        lineErrors.set(items.length, { path: '$', reason: 'not valid JSON' });
        items.push(undefined);
      }
    }
    if (items.length === 0)
      throw badRequest('The body holds no profiles', [{ path: '$', reason: 'empty body' }]);
    return { items, lineErrors, lines: numbers };
  }
  if (ct !== 'application/json' && ct !== '') {
    throw unsupportedMediaType(
      `Unsupported content type "${ct}"; send application/json (an object or an array) or application/x-ndjson`,
      [{ path: 'content-type', reason: `unsupported: ${ct}` }],
    );
  }
  let doc: unknown;
  try {
    // A UTF-8 byte order mark is no JSON, but editors and Windows tools write one; NDJSON lines and JSON file
    // imports already read past it.
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw badRequest(
      'The body is not valid JSON',
      [{ path: '$', reason: text.trim() === '' ? 'empty body' : jsonSyntaxReason(e) }],
      'invalid_json',
    );
  }
  if (Array.isArray(doc)) {
    if (doc.length > maxItems) throw tooMany(maxItems, doc.length);
    if (doc.length === 0)
      throw badRequest('The body holds no profiles', [{ path: '$', reason: 'empty array' }]);
    return { items: doc, lineErrors };
  }
  if (doc !== null && typeof doc === 'object') return { items: [doc], lineErrors };
  throw badRequest('The body must be a profile object, an array of them, or NDJSON', [
    { path: '$', reason: `got ${doc === null ? 'null' : typeof doc}` },
  ]);
}

function tooMany(max: number, got?: number) {
  return payloadTooLarge(
    `Too many profiles in one request: at most ${max} (TCA_MAX_INGEST_ITEMS); split the batch`,
    [{ path: '$', reason: got === undefined ? `more than ${max} items` : `${got} items > ${max}` }],
  );
}

/**
 * What a JSON syntax error says, without the part of the body the parser quotes (`Unexpected token 'j', "jane@…" is
 * not valid JSON`): a body holds identities, and an error is no place to repeat them.
 */
export function jsonSyntaxReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/,\s*(?:\.\.\.)?".*$/s, ' (not valid JSON)');
}
