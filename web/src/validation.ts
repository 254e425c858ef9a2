/**
 * Validation the console runs while the user types. Every rule here is also enforced by the service; the console checks
 * early so a problem shows next to its field, with the offending characters marked and a fix offered.
 *
 * The naming and mapping rules mirror src/audience/naming.ts and src/audience/mapping.ts (same forbidden characters, same
 * problem shapes) so the browser bundle stays free of server-side modules.
 */
import { X_IDENTIFIER_TYPES } from '../../src/identity/types.ts';
import type { XIdentifierType } from '../../src/identity/types.ts';

export { X_IDENTIFIER_TYPES };
export type { XIdentifierType };

// ---------------------------------------------------------------------------------------------------------------------
// Naming

/**
 * Characters X rejects in audience names, mapping names and descriptions. The ads API answers "This request is not
 * properly authenticated" when a name carries them, which is why they are refused up front.
 */
export const FORBIDDEN_NAME_CHARACTERS = ['+', '&', ',', '%', ':', ';', '@', '/', '=', '?', '$', '\n', '\r'] as const;

const FORBIDDEN = new Set<string>(FORBIDDEN_NAME_CHARACTERS);

export type NameField = 'name' | 'description' | 'mappingName';

export interface NameProblem {
  char: string;
  index: number;
  reason: string;
}

export type NameResult =
  | { ok: true; value: string }
  | { ok: false; problems: NameProblem[]; suggestion: string; message: string };

const FIELD_LABEL: Record<NameField, string> = {
  name: 'Name',
  description: 'Description',
  mappingName: 'Mapping name',
};

/** Printable form of a character for messages ("\n" reads as "line break"). */
export function describeChar(char: string): string {
  if (char === '\n' || char === '\r') return 'line break';
  if (char === ' ') return 'space';
  return `"${char}"`;
}

/** The value with forbidden characters removed, line breaks turned into spaces and runs of spaces collapsed. */
export function suggestName(value: string): string {
  let out = '';
  for (const char of value) {
    if (char === '\n' || char === '\r') out += ' ';
    else if (!FORBIDDEN.has(char)) out += char;
    else out += ' ';
  }
  return out.replace(/\s+/g, ' ').trim();
}

/**
 * Checks a name, description or mapping name against X's naming rules.
 *
 * @example
 *   validateName('US, European Shoppers', { field: 'name' })
 *   // → { ok: false, problems: [{ char: ',', index: 2, … }], suggestion: 'US European Shoppers', … }
 */
export function validateName(value: string, options: { field: NameField }): NameResult {
  const label = FIELD_LABEL[options.field];
  const problems: NameProblem[] = [];
  let index = 0;
  for (const char of value) {
    if (FORBIDDEN.has(char)) {
      problems.push({ char, index, reason: `${describeChar(char)} is not allowed in X audience names` });
    }
    index += char.length;
  }
  const required = options.field !== 'description';
  if (required && value.trim() === '') {
    return {
      ok: false,
      problems,
      suggestion: suggestName(value),
      message: `${label} is required.`,
    };
  }
  if (problems.length > 0) {
    const chars = [...new Set(problems.map((p) => describeChar(p.char)))].join(' ');
    return {
      ok: false,
      problems,
      suggestion: suggestName(value),
      message: `${label} contains characters X does not accept: ${chars}. Remove them before saving.`,
    };
  }
  return { ok: true, value: value.trim() };
}

export interface HighlightPart {
  text: string;
  bad: boolean;
}

/** Splits a value into runs of allowed and forbidden characters, for rendering the offenders highlighted. */
export function highlightForbidden(value: string): HighlightPart[] {
  const parts: HighlightPart[] = [];
  for (const char of value) {
    const bad = FORBIDDEN.has(char);
    const shown = char === '\n' || char === '\r' ? '⏎' : char;
    const last = parts[parts.length - 1];
    if (last && last.bad === bad) last.text += shown;
    else parts.push({ text: shown, bad });
  }
  return parts;
}

// ---------------------------------------------------------------------------------------------------------------------
// Connection fields

export type FieldResult = { ok: true; value: string } | { ok: false; message: string; suggestion?: string };

/** X ads account ids are short lowercase base-36 strings such as "18ce54d4x5t". */
export function validateAccountId(value: string): FieldResult {
  const trimmed = value.trim();
  if (trimmed === '') return { ok: false, message: 'Account ID is required. Find it in your X Ads account settings.' };
  if (!/^[0-9a-z]{1,32}$/.test(trimmed)) {
    const suggestion = trimmed.toLowerCase().replace(/[^0-9a-z]/g, '');
    const result: FieldResult = {
      ok: false,
      message: 'Account ID has only lowercase letters and digits (for example 18ce54d4x5t).',
    };
    if (suggestion !== '' && suggestion !== trimmed) result.suggestion = suggestion;
    return result;
  }
  return { ok: true, value: trimmed };
}

/** Optional alert webhook: empty, or an http(s) URL. */
export function validateWebhookUrl(value: string): FieldResult {
  const trimmed = value.trim();
  if (trimmed === '') return { ok: true, value: '' };
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return { ok: false, message: 'Enter a full URL such as https://hooks.example.com/alerts.' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, message: 'The alert webhook must be an http or https URL.' };
  }
  return { ok: true, value: trimmed };
}

export interface CredentialFields {
  consumerKey: string;
  consumerSecret: string;
  accessToken: string;
  accessTokenSecret: string;
}

export const CREDENTIAL_LABELS: Record<keyof CredentialFields, string> = {
  consumerKey: 'Consumer key (API key)',
  consumerSecret: 'Consumer secret (API secret)',
  accessToken: 'Access token',
  accessTokenSecret: 'Access token secret',
};

/** Each of the four OAuth 1.0a values must be present and free of whitespace (a frequent copy-paste slip). */
export function validateCredentials(fields: CredentialFields): Partial<Record<keyof CredentialFields, string>> {
  const errors: Partial<Record<keyof CredentialFields, string>> = {};
  for (const key of Object.keys(CREDENTIAL_LABELS) as (keyof CredentialFields)[]) {
    const value = fields[key];
    if (value.trim() === '') errors[key] = `${CREDENTIAL_LABELS[key]} is required.`;
    else if (/\s/.test(value.trim())) errors[key] = `${CREDENTIAL_LABELS[key]} contains spaces; paste it again.`;
  }
  return errors;
}

/** The PIN X shows after "Authorize app" is a short number. */
export function validatePin(value: string): FieldResult {
  const trimmed = value.trim();
  if (!/^\d{4,10}$/.test(trimmed)) return { ok: false, message: 'Enter the numeric PIN X showed after you authorized.' };
  return { ok: true, value: trimmed };
}

// ---------------------------------------------------------------------------------------------------------------------
// Mapping

export interface MappingRow {
  sourceType: 'namespace' | 'attribute';
  source: string;
  target: XIdentifierType;
  applyTransformation: boolean;
}

export interface MappingProblem {
  /** Row index, or -1 for a problem with the mapping as a whole. */
  index: number;
  field: 'rows' | 'source' | 'target' | 'applyTransformation';
  reason: string;
}

export type MappingResult = { ok: true } | { ok: false; problems: MappingProblem[] };

export const TARGET_LABELS: Record<XIdentifierType, string> = {
  email: 'email (SHA-256 of the normalized address)',
  device_id: 'device_id (IDFA / GAID / Android ID)',
  phone_number: 'phone_number (SHA-256 of E.164)',
  handle: 'handle (SHA-256 of the @handle)',
  twitter_id: 'twitter_id (SHA-256 of the X user id)',
  partner_user_id: 'partner_user_id (sent as is)',
};

/** Identity namespaces offered in the source picker, with the X identifier each one usually maps to. */
export const KNOWN_NAMESPACES: { namespace: string; target: XIdentifierType; hashed: boolean }[] = [
  { namespace: 'Email', target: 'email', hashed: false },
  { namespace: 'Email_LC_SHA256', target: 'email', hashed: true },
  { namespace: 'Phone', target: 'phone_number', hashed: false },
  { namespace: 'Phone_E.164', target: 'phone_number', hashed: false },
  { namespace: 'Phone_SHA256', target: 'phone_number', hashed: true },
  { namespace: 'IDFA', target: 'device_id', hashed: false },
  { namespace: 'GAID', target: 'device_id', hashed: false },
  { namespace: 'TWITTER_ID', target: 'twitter_id', hashed: false },
  { namespace: 'CRMID', target: 'partner_user_id', hashed: false },
];

/** The rule behind the "Apply transformation" check box, per target, in words a marketer can check. */
export function transformationRule(target: XIdentifierType): string {
  switch (target) {
    case 'email':
      return 'Trims and lowercases the address, then hashes it with SHA-256 (no salt). Tick it for plain-text emails; leave it clear when the source already holds SHA-256 hex digests.';
    case 'phone_number':
      return 'Formats the number as E.164 (+ and digits, using the region when the number has no country code), then hashes it with SHA-256. Tick it for plain-text numbers.';
    case 'device_id':
      return 'Writes IDFA and GAID values lowercase with dashes (Android ids lowercase without dashes), then hashes them with SHA-256. Tick it for raw advertising IDs.';
    case 'handle':
      return 'Drops the leading @, lowercases the handle, then hashes it with SHA-256.';
    case 'twitter_id':
      return 'Keeps the X user id as a plain integer, then hashes it with SHA-256.';
    case 'partner_user_id':
      return 'X takes partner user ids as they are; no transformation applies.';
  }
}

/** Suggested target and check-box state when the user picks a known namespace. */
export function defaultsForSource(
  sourceType: MappingRow['sourceType'],
  source: string,
): Pick<MappingRow, 'target' | 'applyTransformation'> | null {
  if (sourceType !== 'namespace') return null;
  const known = KNOWN_NAMESPACES.find((n) => n.namespace.toLowerCase() === source.trim().toLowerCase());
  if (!known) return null;
  return { target: known.target, applyTransformation: !known.hashed && known.target !== 'partner_user_id' };
}

/**
 * Checks the mapping step: at least one row, every row with a source and an X identifier target, no duplicate rows, and
 * no transformation on partner_user_id. Lists every problem at once.
 *
 * @example
 *   validateMapping([{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }])
 *   // → { ok: true }
 */
export function validateMapping(rows: readonly MappingRow[]): MappingResult {
  const problems: MappingProblem[] = [];
  if (rows.length === 0) {
    problems.push({
      index: -1,
      field: 'rows',
      reason: 'Map at least one source to an X identifier; otherwise nothing can be activated.',
    });
  }
  const seen = new Map<string, number>();
  rows.forEach((row, index) => {
    const source = row.source.trim();
    if (source === '') {
      problems.push({
        index,
        field: 'source',
        reason: `Choose the ${row.sourceType === 'namespace' ? 'identity namespace' : 'attribute'} to read.`,
      });
    } else if (row.sourceType === 'attribute' && !/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(source)) {
      problems.push({ index, field: 'source', reason: 'Write the attribute as a dotted path, e.g. person.email.' });
    }
    if (!(X_IDENTIFIER_TYPES as readonly string[]).includes(row.target)) {
      problems.push({ index, field: 'target', reason: 'Choose an X identifier as the target.' });
    }
    if (row.target === 'partner_user_id' && row.applyTransformation) {
      problems.push({
        index,
        field: 'applyTransformation',
        reason: 'partner_user_id is sent as is; clear "Apply transformation".',
      });
    }
    const key = `${row.sourceType}:${source.toLowerCase()}→${row.target}`;
    const first = seen.get(key);
    if (source !== '' && first !== undefined) {
      problems.push({ index, field: 'source', reason: `Same source and target as row ${first + 1}.` });
    } else {
      seen.set(key, index);
    }
  });
  const hasIdentityTarget = rows.some(
    (row) => row.source.trim() !== '' && (X_IDENTIFIER_TYPES as readonly string[]).includes(row.target),
  );
  if (rows.length > 0 && !hasIdentityTarget) {
    problems.push({ index: -1, field: 'rows', reason: 'At least one row must map a source to an X identifier.' });
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}

// ---------------------------------------------------------------------------------------------------------------------
// Scheduling

export interface ScheduleDraft {
  segmentId: string;
  mappingName: string;
  startDate: string;
  endDate: string;
  xAudienceId: string;
  ttlDays: string;
}

export type ScheduleErrors = Partial<Record<Exclude<keyof ScheduleDraft, 'segmentId'>, string>>;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isRealDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** Checks one segment's schedule row. `allMappingNames` catches two segments sent to the same X audience name. */
export function validateSchedule(draft: ScheduleDraft, allMappingNames: readonly string[] = []): ScheduleErrors {
  const errors: ScheduleErrors = {};
  const name = validateName(draft.mappingName, { field: 'mappingName' });
  if (!name.ok) errors.mappingName = name.message;
  else {
    const same = allMappingNames.filter((n) => n.trim().toLowerCase() === draft.mappingName.trim().toLowerCase());
    if (same.length > 1) errors.mappingName = 'Another segment uses this mapping name; X audience names are unique.';
  }
  if (draft.startDate === '') errors.startDate = 'Start date is required.';
  else if (!isRealDate(draft.startDate)) errors.startDate = 'Use a date as YYYY-MM-DD.';
  if (draft.endDate !== '') {
    if (!isRealDate(draft.endDate)) errors.endDate = 'Use a date as YYYY-MM-DD.';
    else if (isRealDate(draft.startDate) && draft.endDate < draft.startDate) {
      errors.endDate = 'End date must be on or after the start date.';
    }
  }
  if (draft.xAudienceId.trim() !== '' && !/^[0-9a-z]{1,32}$/.test(draft.xAudienceId.trim())) {
    errors.xAudienceId = 'An X audience id has only lowercase letters and digits (for example 2906h).';
  }
  if (draft.ttlDays.trim() !== '') {
    const ttl = Number(draft.ttlDays.trim());
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 3650) {
      errors.ttlDays = 'TTL is a whole number of days between 1 and 3650.';
    }
  }
  return errors;
}

/** Turns a valid schedule draft into the request shape (empty optional fields are left out). */
export function scheduleToRequest(draft: ScheduleDraft): {
  segmentId: string;
  mappingName: string;
  startDate: string;
  endDate?: string;
  xAudienceId?: string;
  ttlDays?: number;
} {
  const out: ReturnType<typeof scheduleToRequest> = {
    segmentId: draft.segmentId,
    mappingName: draft.mappingName.trim(),
    startDate: draft.startDate,
  };
  if (draft.endDate !== '') out.endDate = draft.endDate;
  if (draft.xAudienceId.trim() !== '') out.xAudienceId = draft.xAudienceId.trim();
  if (draft.ttlDays.trim() !== '') out.ttlDays = Number(draft.ttlDays.trim());
  return out;
}
