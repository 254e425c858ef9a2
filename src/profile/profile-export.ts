/**
 * The profile objects AEP streaming destinations export: one profile per message, with the audiences it belongs to
 * (`segmentMembership`), the identities mapped for the destination (`identityMap`) and mapped attributes.
 *
 * ```json
 * { "segmentMembership": { "ups": { "7841ba61-…": { "status": "exited", "lastQualificationTime": "2022-01-11T21:24:39Z" } } },
 *   "identityMap": { "email": [{ "id": "jane@example.com", "primary": true }], "gaid": [{ "id": "…" }] },
 *   "attributes": { "loyaltyTier": { "value": "gold" } } }
 * ```
 *
 * Fields this model does not know (raw XDM such as `personalEmail`, segment timestamps, future additions) are kept as
 * they are, so nothing an exporter sends is lost between ingest and mapping.
 */

/** `existing` is the legacy spelling of "still a member"; AEP documents all three, so all three are accepted. */
export const SEGMENT_STATUSES = ['realized', 'existing', 'exited'] as const;
export type SegmentStatus = (typeof SEGMENT_STATUSES)[number];

export const AUTHENTICATED_STATES = ['ambiguous', 'authenticated', 'loggedOut'] as const;
export type AuthenticatedState = (typeof AUTHENTICATED_STATES)[number];

export interface SegmentMembership {
  status: SegmentStatus;
  /** ISO 8601 instant of the last qualification change. */
  lastQualificationTime?: string;
  /** The audience name, when the export includes segment names. */
  name?: string;
  [field: string]: unknown;
}

export interface IdentityEntry {
  id: string;
  authenticatedState?: AuthenticatedState;
  primary?: boolean;
  [field: string]: unknown;
}

export interface ProfileExport {
  /** namespace (e.g. `ups`) → audience id → membership. */
  segmentMembership: Record<string, Record<string, SegmentMembership>>;
  /** identity namespace (e.g. `Email`, `gaid`) → identities. */
  identityMap: Record<string, IdentityEntry[]>;
  /** Mapped attributes: freeform ones as `{ value }`, predefined ones as plain values. */
  attributes: Record<string, unknown>;
  [field: string]: unknown;
}

export interface ProfileError {
  /** JSONPath of the offending value, e.g. `$.identityMap.email[0].id`. */
  path: string;
  reason: string;
}

export type ProfileParseResult = { ok: true; profile: ProfileExport } | { ok: false; errors: ProfileError[] };

// Enough to show what is wrong with any realistic profile, without letting a hostile one build a huge error list.
const MAX_ERRORS = 100;
// An ISO 8601 instant with a zone (`Z` or an offset), as AEP writes lastQualificationTime.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const IDENTIFIER_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Why an identifier holding U+FFFD is refused. Decoding a file that is not UTF-8 (Latin-1, Windows-1252) puts that
 * character where each byte it cannot read was, so the identifier would hash to a value X matches to nobody.
 */
export const NOT_UTF8 =
  'holds U+FFFD, the character decoding puts in place of bytes that are not UTF-8: save the file as UTF-8 (it may be Latin-1 or Windows-1252), or fix the value where it lost characters';

/** Whether an identifier's text shows bytes that were not UTF-8 (see `NOT_UTF8`). */
export function lostInDecoding(text: string): boolean {
  return text.includes('\ufffd');
}

/**
 * Parses and validates one exported profile. Never throws: any input gives the profile or a list of errors, each with
 * the JSONPath of the offending value and the reason. `segmentMembership` and `identityMap` are required (AEP always
 * sends them); `attributes` defaults to `{}`; unknown fields are kept.
 *
 * @example
 * parseProfileExport({ segmentMembership: { ups: { s1: { status: 'realized' } } }, identityMap: { email: [{ id: 'a@b.co' }] } });
 * // { ok: true, profile: { segmentMembership: …, identityMap: …, attributes: {} } }
 * parseProfileExport({ segmentMembership: { ups: { s1: { status: 'exiting' } } }, identityMap: {} });
 * // { ok: false, errors: [{ path: '$.segmentMembership.ups.s1.status', reason: 'must be one of realized, existing, exited' }] }
 */
export function parseProfileExport(input: unknown): ProfileParseResult {
  try {
    return parse(input);
  } catch {
    // Only exotic inputs (throwing getters, revoked proxies) get here; JSON never does.
    return { ok: false, errors: [{ path: '$', reason: 'the profile could not be read as plain JSON data' }] };
  }
}

function parse(input: unknown): ProfileParseResult {
  const errors: ProfileError[] = [];
  const fail = (path: string, reason: string): void => {
    if (errors.length < MAX_ERRORS) errors.push({ path, reason });
  };
  if (!isRecord(input)) {
    return { ok: false, errors: [{ path: '$', reason: 'a profile must be a JSON object' }] };
  }

  const segmentMembership = parseSegmentMembership(input['segmentMembership'], '$.segmentMembership', fail);
  const identityMap = parseIdentityMap(input['identityMap'], '$.identityMap', fail);
  let attributes: Record<string, unknown> = {};
  const rawAttributes = input['attributes'];
  if (rawAttributes !== undefined) {
    if (isRecord(rawAttributes)) attributes = copyRecord(rawAttributes);
    else fail('$.attributes', 'must be an object');
  }
  if (errors.length > 0) return { ok: false, errors };

  const extra = Object.entries(input).filter(
    ([key]) => key !== 'segmentMembership' && key !== 'identityMap' && key !== 'attributes',
  );
  // Object.fromEntries defines own properties, so a `__proto__` key stays data and never becomes a prototype.
  const profile = Object.fromEntries([
    ...extra,
    ['segmentMembership', segmentMembership],
    ['identityMap', identityMap],
    ['attributes', attributes],
  ]) as ProfileExport;
  return { ok: true, profile };
}

type Fail = (path: string, reason: string) => void;

function parseSegmentMembership(
  value: unknown,
  path: string,
  fail: Fail,
): ProfileExport['segmentMembership'] {
  if (value === undefined) {
    fail(path, 'is required (an object of namespace → audience id → { status, lastQualificationTime })');
    return {};
  }
  if (!isRecord(value)) {
    fail(path, 'must be an object of namespace → audience id → { status, lastQualificationTime }');
    return {};
  }
  const namespaces: [string, Record<string, SegmentMembership>][] = [];
  for (const [namespace, segments] of Object.entries(value)) {
    const nsPath = childPath(path, namespace);
    if (!isRecord(segments)) {
      fail(nsPath, 'must be an object of audience id → { status, lastQualificationTime }');
      continue;
    }
    const parsed: [string, SegmentMembership][] = [];
    for (const [segmentId, membership] of Object.entries(segments)) {
      const segPath = childPath(nsPath, segmentId);
      if (segmentId.trim().length === 0) fail(segPath, 'an audience id must not be empty');
      const entry = parseMembership(membership, segPath, fail);
      if (entry !== null) parsed.push([segmentId, entry]);
    }
    namespaces.push([namespace, Object.fromEntries(parsed)]);
  }
  return Object.fromEntries(namespaces);
}

function parseMembership(value: unknown, path: string, fail: Fail): SegmentMembership | null {
  if (!isRecord(value)) {
    fail(path, 'must be an object { status, lastQualificationTime }');
    return null;
  }
  let ok = true;
  const status = value['status'];
  if (!isSegmentStatus(status)) {
    const lower = typeof status === 'string' ? status.trim().toLowerCase() : null;
    fail(
      childPath(path, 'status'),
      isSegmentStatus(lower)
        ? `must be one of ${SEGMENT_STATUSES.join(', ')}, in lowercase: write "${lower}"`
        : `must be one of ${SEGMENT_STATUSES.join(', ')}`,
    );
    ok = false;
  }
  const time = value['lastQualificationTime'];
  if (time !== undefined && !(typeof time === 'string' && isInstant(time))) {
    fail(childPath(path, 'lastQualificationTime'), 'must be an ISO 8601 instant, e.g. 2022-01-11T21:24:39Z');
    ok = false;
  }
  const name = value['name'];
  if (name !== undefined && typeof name !== 'string') {
    fail(childPath(path, 'name'), 'must be a string');
    ok = false;
  }
  return ok ? (copyRecord(value) as SegmentMembership) : null;
}

function parseIdentityMap(value: unknown, path: string, fail: Fail): ProfileExport['identityMap'] {
  if (value === undefined) {
    fail(path, 'is required (an object of namespace → [{ id }])');
    return {};
  }
  if (!isRecord(value)) {
    fail(path, 'must be an object of namespace → [{ id }]');
    return {};
  }
  const namespaces: [string, IdentityEntry[]][] = [];
  for (const [namespace, identities] of Object.entries(value)) {
    const nsPath = childPath(path, namespace);
    if (namespace.trim().length === 0) fail(nsPath, 'an identity namespace must not be empty');
    if (!Array.isArray(identities)) {
      fail(nsPath, 'must be an array of { id, authenticatedState?, primary? }');
      continue;
    }
    const parsed: IdentityEntry[] = [];
    identities.forEach((identity: unknown, i) => {
      const entry = parseIdentity(identity, `${nsPath}[${i}]`, fail);
      if (entry !== null) parsed.push(entry);
    });
    namespaces.push([namespace, parsed]);
  }
  return Object.fromEntries(namespaces);
}

function parseIdentity(value: unknown, path: string, fail: Fail): IdentityEntry | null {
  if (!isRecord(value)) {
    fail(path, 'must be an object { id, authenticatedState?, primary? }');
    return null;
  }
  let ok = true;
  const id = value['id'];
  if (typeof id !== 'string' || id.length === 0) {
    fail(childPath(path, 'id'), 'must be a non-empty string');
    ok = false;
  } else if (lostInDecoding(id)) {
    fail(childPath(path, 'id'), NOT_UTF8);
    ok = false;
  }
  const state = value['authenticatedState'];
  if (state !== undefined && !(AUTHENTICATED_STATES as readonly unknown[]).includes(state)) {
    fail(childPath(path, 'authenticatedState'), `must be one of ${AUTHENTICATED_STATES.join(', ')}`);
    ok = false;
  }
  const primary = value['primary'];
  if (primary !== undefined && typeof primary !== 'boolean') {
    fail(childPath(path, 'primary'), 'must be true or false');
    ok = false;
  }
  return ok ? (copyRecord(value) as IdentityEntry) : null;
}

/**
 * Whether `text` is an ISO 8601 instant with a zone, on a day the calendar has: `Date.parse` takes `2022-02-31` for
 * March 3rd, so the day is checked against its month.
 */
function isInstant(text: string): boolean {
  if (!ISO_INSTANT.test(text) || Number.isNaN(Date.parse(text))) return false;
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export function isSegmentStatus(value: unknown): value is SegmentStatus {
  return value === 'realized' || value === 'existing' || value === 'exited';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function copyRecord(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value));
}

/** `$.a.b` for identifier-like keys, `$.a["b-c"]` otherwise. */
export function childPath(parent: string, key: string): string {
  return IDENTIFIER_KEY.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}
