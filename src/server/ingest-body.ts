import type { ErrorDetail } from './api-error.ts';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './api-error.ts';
import { mediaType } from './route-def.ts';

/**
 * Splits an ingest body into items: one JSON object, a JSON array of objects, or NDJSON (one object per line).
 * Syntax errors in NDJSON are per line (the line becomes a rejected item); a malformed JSON document rejects the request.
 */
export function parseIngestBody(
  text: string,
  contentType: string,
  maxItems: number,
): { items: unknown[]; lineErrors: Map<number, ErrorDetail> } {
  const ct = mediaType(contentType);
  const lineErrors = new Map<number, ErrorDetail>();
  if (ct === 'application/x-ndjson' || ct === 'application/ndjson' || ct === 'application/jsonl') {
    const items: unknown[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      if (items.length >= maxItems) throw tooMany(maxItems);
      try {
        items.push(JSON.parse(line));
      } catch {
        lineErrors.set(items.length, { path: '$', reason: `line ${i + 1} is not valid JSON` });
        items.push(undefined);
      }
    }
    if (items.length === 0)
      throw badRequest('The body holds no profiles', [{ path: '$', reason: 'empty body' }]);
    return { items, lineErrors };
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
      [{ path: '$', reason: (e as Error).message }],
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
