import {
  isSegmentStatus,
  lostInDecoding,
  NOT_UTF8,
  type IdentityEntry,
  type ProfileError,
  type ProfileExport,
  type SegmentMembership,
  type SegmentStatus,
} from './profile-export.ts';

/*
 * The flat CSV model: one profile per row. The header names each column's role (names are case-insensitive and
 * surrounding spaces are ignored):
 *
 *   profile_key              required: the row's stable key (a CRM id, a warehouse primary key). Never sent to X.
 *   email | phone | phone_e164 | email_sha256 | phone_sha256 | idfa | gaid
 *                            identity columns for the standard namespaces Email, Phone, Phone_E.164, Email_LC_SHA256,
 *                            Phone_SHA256, IDFA, GAID
 *   identity:<namespace>     any other identity namespace, e.g. `identity:CRM_ID`, `identity:Twitter_Handle`
 *   segment:<audienceId>     membership in audience <audienceId> of namespace `ups`;
 *   segment:<ns>/<audienceId>  … of another segment namespace
 *   attr:<path>              an attribute; any other column is an attribute named after the header
 *
 * Cells: an identity cell may hold several values separated by `|`; empty cells are skipped. A segment cell is
 * `1`, `true`, `yes` or `realized` (member), `existing` (still a member), `0`, `false`, `no` or `exited` (left), or
 * empty (the row says nothing about that audience). Attributes are stored as `{ value }`, like AEP's freeform attributes.
 *
 * Rows arrive already split into cells (the file reader owns quoting and encodings); these functions are pure.
 */

export const CSV_IDENTITY_COLUMNS: Readonly<Record<string, string>> = {
  email: 'Email',
  email_sha256: 'Email_LC_SHA256',
  phone: 'Phone',
  phone_e164: 'Phone_E.164',
  phone_sha256: 'Phone_SHA256',
  idfa: 'IDFA',
  gaid: 'GAID',
};

/** Segment namespace used when a `segment:` column does not name one (AEP's Segmentation Service). */
export const DEFAULT_SEGMENT_NAMESPACE = 'ups';

export type CsvColumn =
  | { kind: 'profileKey' }
  | { kind: 'identity'; namespace: string }
  | { kind: 'segment'; namespace: string; segmentId: string }
  | { kind: 'attribute'; path: string };

export interface CsvProfileLayout {
  header: readonly string[];
  columns: readonly CsvColumn[];
}

export type CsvHeaderResult = { ok: true; layout: CsvProfileLayout } | { ok: false; errors: ProfileError[] };

export type CsvRowResult =
  { ok: true; profileKey: string; profile: ProfileExport } | { ok: false; errors: ProfileError[] };

const MEMBER = new Set(['1', 'true', 'yes', 'realized']);
const LEFT = new Set(['0', 'false', 'no', 'exited']);

/**
 * Reads the header row into a column layout, or explains what is wrong with it.
 *
 * @example
 * parseCsvProfileHeader(['profile_key', 'email', 'segment:4f1c…']);
 * // { ok: true, layout: { columns: [{ kind: 'profileKey' }, { kind: 'identity', namespace: 'Email' }, { kind: 'segment', namespace: 'ups', segmentId: '4f1c…' }] } }
 */
export function parseCsvProfileHeader(header: readonly string[]): CsvHeaderResult {
  const other = header.length === 1 ? otherDelimiter(header[0]) : null;
  if (other !== null)
    return {
      ok: false,
      errors: [
        {
          path: 'header',
          reason:
            `the header is one column, ${JSON.stringify(header[0]!.slice(0, 80))}: the file seems to separate its ` +
            `columns with ${other}, but CSV files here are separated by commas. Export it with commas as the delimiter`,
        },
      ],
    };
  const errors: ProfileError[] = [];
  const columns: CsvColumn[] = [];
  const seen = new Set<string>();
  // Each segment's column, by namespace and id: `segment:seg` and `segment:ups/seg` are one segment, whose two cells
  // could say opposite things.
  const segmentColumns = new Map<string, number>();
  let keyColumns = 0;
  header.forEach((rawName, index) => {
    const name = typeof rawName === 'string' ? rawName.replace(/^\ufeff/, '').trim() : '';
    const path = `header column ${index + 1}`;
    const lower = name.toLowerCase();
    if (name.length === 0) {
      errors.push({ path, reason: 'the column has no name' });
      columns.push({ kind: 'attribute', path: '' });
      return;
    }
    const duplicate = seen.has(lower);
    if (duplicate) errors.push({ path, reason: `the column ${JSON.stringify(name)} appears twice` });
    seen.add(lower);
    const column = classify(name, lower);
    if ('error' in column) {
      errors.push({ path, reason: column.error });
      columns.push({ kind: 'attribute', path: name });
      return;
    }
    if (column.kind === 'profileKey') keyColumns += 1;
    if (column.kind === 'segment') {
      const segment = `${column.namespace.toLowerCase()}/${column.segmentId}`;
      const other = segmentColumns.get(segment);
      if (other !== undefined && !duplicate)
        errors.push({
          path,
          reason: `the column names segment ${column.segmentId} of namespace ${column.namespace}, as column ${other + 1} does`,
        });
      else segmentColumns.set(segment, index);
    }
    columns.push(column);
  });
  if (keyColumns === 0) {
    errors.push({
      path: 'header',
      reason: 'a "profile_key" column is required: it keys each row across imports',
    });
  }
  if (!columns.some((c) => c.kind === 'identity')) {
    errors.push({
      path: 'header',
      reason: 'no identity column: add e.g. "email", "phone", "idfa", "gaid" or "identity:<namespace>"',
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, layout: { header: [...header], columns } };
}

/** The delimiter a lone header column seems to hold instead of commas (`"profile_key;email"`), or null. */
function otherDelimiter(name: string | undefined): string | null {
  if (typeof name !== 'string') return null;
  if (name.includes(';')) return '";"';
  if (name.includes('\t')) return 'tabs';
  if (name.includes('|')) return '"|"';
  return null;
}

function classify(name: string, lower: string): CsvColumn | { error: string } {
  if (lower === 'profile_key') return { kind: 'profileKey' };
  const standard = CSV_IDENTITY_COLUMNS[lower];
  if (standard !== undefined) return { kind: 'identity', namespace: standard };
  if (lower.startsWith('identity:')) {
    const namespace = name.slice('identity:'.length).trim();
    return namespace.length === 0
      ? { error: '"identity:" must be followed by a namespace' }
      : { kind: 'identity', namespace };
  }
  if (lower.startsWith('segment:')) {
    const rest = name.slice('segment:'.length).trim();
    const slash = rest.indexOf('/');
    const namespace = slash === -1 ? DEFAULT_SEGMENT_NAMESPACE : rest.slice(0, slash).trim();
    const segmentId = slash === -1 ? rest : rest.slice(slash + 1).trim();
    if (namespace.length === 0 || segmentId.length === 0) {
      return { error: '"segment:" must be followed by an audience id, or by <namespace>/<audience id>' };
    }
    return { kind: 'segment', namespace, segmentId };
  }
  if (lower.startsWith('attr:')) {
    const path = name.slice('attr:'.length).trim();
    return path.length === 0
      ? { error: '"attr:" must be followed by an attribute path' }
      : { kind: 'attribute', path };
  }
  return { kind: 'attribute', path: name };
}

/**
 * Turns one data row into a profile in the same shape AEP exports, so the mapping applies to both alike.
 * `line` (1-based, for messages) and `lastQualificationTime` (the import's clock) are the caller's.
 *
 * @example
 * parseCsvProfileRow(layout, ['crm-1', 'jane@example.com', '1'], { lastQualificationTime: '2026-01-01T00:00:00Z' });
 * // { ok: true, profileKey: 'crm-1', profile: { identityMap: { Email: [{ id: 'jane@example.com' }] },
 * //   segmentMembership: { ups: { '4f1c…': { status: 'realized', lastQualificationTime: '2026-01-01T00:00:00Z' } } }, attributes: {} } }
 */
export function parseCsvProfileRow(
  layout: CsvProfileLayout,
  row: readonly string[],
  options: { line?: number; lastQualificationTime?: string } = {},
): CsvRowResult {
  const where = (column: number): string => {
    const name = JSON.stringify(layout.header[column] ?? `#${column + 1}`);
    return options.line === undefined ? `column ${name}` : `line ${options.line}, column ${name}`;
  };
  const rowPath = options.line === undefined ? 'row' : `line ${options.line}`;
  if (!Array.isArray(row) || row.length !== layout.columns.length) {
    const count = Array.isArray(row) ? row.length : 0;
    return {
      ok: false,
      errors: [{ path: rowPath, reason: `has ${count} cells; the header has ${layout.columns.length}` }],
    };
  }
  const errors: ProfileError[] = [];
  let profileKey = '';
  const identities = new Map<string, IdentityEntry[]>();
  const segments = new Map<string, Map<string, SegmentMembership>>();
  const attributes: [string, unknown][] = [];

  layout.columns.forEach((column, index) => {
    const raw = row[index];
    const cell = typeof raw === 'string' ? raw.trim() : '';
    if ((column.kind === 'profileKey' || column.kind === 'identity') && lostInDecoding(cell)) {
      errors.push({ path: where(index), reason: NOT_UTF8 });
      return;
    }
    switch (column.kind) {
      case 'profileKey':
        profileKey = cell;
        if (cell.length === 0) errors.push({ path: where(index), reason: 'the profile key is empty' });
        return;
      case 'identity': {
        if (cell.length === 0) return;
        const list = identities.get(column.namespace) ?? [];
        for (const part of cell.split('|')) {
          const id = part.trim();
          if (id.length > 0 && !list.some((entry) => entry.id === id)) list.push({ id });
        }
        identities.set(column.namespace, list);
        return;
      }
      case 'segment': {
        if (cell.length === 0) return;
        const status = segmentStatus(cell);
        if (status === null) {
          errors.push({
            path: where(index),
            reason: 'a segment cell is 1/true/yes/realized, existing, 0/false/no/exited, or empty',
          });
          return;
        }
        const namespace = segments.get(column.namespace) ?? new Map<string, SegmentMembership>();
        const membership: SegmentMembership =
          options.lastQualificationTime === undefined
            ? { status }
            : { status, lastQualificationTime: options.lastQualificationTime };
        namespace.set(column.segmentId, membership);
        segments.set(column.namespace, namespace);
        return;
      }
      case 'attribute':
        if (cell.length > 0) attributes.push([column.path, { value: cell }]);
        return;
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  const profile: ProfileExport = {
    segmentMembership: Object.fromEntries(
      [...segments].map(([namespace, members]) => [namespace, Object.fromEntries(members)]),
    ),
    identityMap: Object.fromEntries(identities),
    attributes: Object.fromEntries(attributes),
  };
  return { ok: true, profileKey, profile };
}

function segmentStatus(cell: string): SegmentStatus | null {
  const lower = cell.toLowerCase();
  if (MEMBER.has(lower)) return 'realized';
  if (LEFT.has(lower)) return 'exited';
  return isSegmentStatus(lower) ? lower : null;
}

/**
 * A CSV file's first line as its header reads: without a UTF-8 byte order mark and a carriage return before the line
 * break. Parts of one export are compared by it.
 */
export function csvHeaderText(firstLine: string): string {
  return firstLine.replace(/^\uFEFF/, '').replace(/\r$/, '');
}

/**
 * One CSV field: quoted when it holds a separator, a quote or a line break (quotes doubled), as RFC 4180 writes it.
 *
 * @example
 * csvField('a,b'); // '"a,b"'
 */
export function csvField(value: unknown): string {
  const text =
    value === null || value === undefined
      ? ''
      : value instanceof Date
        ? value.toISOString()
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
