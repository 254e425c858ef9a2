/** X's timestamp format: ISO 8601 UTC with second precision and `Z`, e.g. `2017-08-22T23:34:26Z`. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]00:?00)$/;

/**
 * Parses an ISO 8601 UTC timestamp (`Z` or a zero offset; fractional seconds accepted) into epoch
 * milliseconds, or null when it is not one.
 */
export function parseIsoUtc(value: string): number | null {
  const m = ISO_UTC.exec(value);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z`);
  if (Number.isNaN(ms)) return null;
  // Date.parse rolls over impossible dates (e.g. 02-30) on some engines; round-trip to reject them.
  const back = new Date(ms).toISOString();
  if (back.slice(0, 19) !== `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`) return null;
  return ms;
}
