/**
 * Validation the console runs while the user types. Every rule here is also enforced by the service; the console checks
 * early so a problem shows next to its field, with the offending characters marked and a fix offered.
 *
 * Naming rules come from src/audience/naming.ts itself. The mapping rules mirror src/audience/mapping.ts (same checks,
 * same problem shape): that module also normalizes and hashes, which needs Node's crypto, so it stays out of the bundle.
 */
import {
  MAX_AUDIENCE_TEXT_LENGTH,
  validateAudienceName,
  validateDisplayName,
} from '../../src/audience/naming.ts';
import type { AudienceTextField, NameProblem } from '../../src/audience/naming.ts';
import { X_IDENTIFIER_TYPES } from '../../src/identity/types.ts';
import {
  isHashedNamespace as isHashedSource,
  STANDARD_NAMESPACES,
  STANDARD_TARGETS,
  validateMapping as validateMappingRules,
} from '../../src/audience/mapping-rules.ts';
import type { MappingProblem, MappingRow } from '../../src/audience/mapping-rules.ts';
import type { XIdentifierType } from '../../src/identity/types.ts';

export { X_IDENTIFIER_TYPES };
export type { XIdentifierType, NameProblem };

// ---------------------------------------------------------------------------------------------------------------------
// Naming (the rules themselves live in src/audience/naming.ts, shared with the service)

export { FORBIDDEN_NAME_CHARACTERS, MAX_AUDIENCE_TEXT_LENGTH } from '../../src/audience/naming.ts';

export type NameField = AudienceTextField;

export type NameResult =
  { ok: true; value: string } | { ok: false; problems: NameProblem[]; suggestion: string; message: string };

const FIELD_LABEL: Record<NameField, string> = {
  name: 'Name',
  description: 'Description',
  mappingName: 'Mapping name',
};

/** Printable form of a character for messages ("\n" reads as "line break"). */
export function describeChar(char: string): string {
  if (char === '\n' || char === '\r') return 'line break';
  if (char === '\t') return 'tab';
  if (char === ' ') return 'space';
  const code = char.charCodeAt(0);
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f))
    return `control character U+${code.toString(16).padStart(4, '0')}`;
  return `"${char}"`;
}

/**
 * Checks a name, description or mapping name against X's naming rules, with a message written for the field it sits
 * under (the service words the same problems for API callers).
 *
 * @example
 *   validateName('US, European Shoppers', { field: 'name' })
 *   // → { ok: false, problems: [{ char: ',', index: 2, reason: 'forbidden_character' }], suggestion: 'US European Shoppers', … }
 */
export function validateName(value: string, options: { field: NameField }): NameResult {
  const result = validateAudienceName(value, options);
  if (result.ok) return result;
  const label = FIELD_LABEL[options.field];
  const problems = result.problems;
  // The description may be left empty; the shared rules treat every field as required.
  if (options.field === 'description' && value.trim() === '') return { ok: true, value: '' };
  const parts: string[] = [];
  if (problems.some((p) => p.reason === 'empty')) parts.push(`${label} is required.`);
  const chars = [
    ...new Set(
      problems.filter((p) => p.char !== '' && p.reason !== 'too_long').map((p) => describeChar(p.char)),
    ),
  ];
  if (chars.length > 0) parts.push(`${label} contains characters X does not accept: ${chars.join(' ')}.`);
  if (problems.some((p) => p.reason === 'too_long')) {
    parts.push(`${label} is longer than ${MAX_AUDIENCE_TEXT_LENGTH[options.field]} characters.`);
  }
  return { ok: false, problems, suggestion: result.suggestion, message: parts.join(' ') };
}

/**
 * A dataflow's name: the service keeps any printable text up to the destination-name limit (it is never sent to X),
 * trimmed, but no tabs, line breaks or other control characters (the shared rule, src/audience/naming.ts). Blank is
 * accepted where the console fills in a default.
 */
export function validateDataflowName(value: string, options: { optional: boolean }): string | null {
  const trimmed = value.trim();
  if (trimmed === '') return options.optional ? null : 'Dataflow name is required.';
  const max = MAX_AUDIENCE_TEXT_LENGTH.name;
  if (trimmed.length > max) return `Dataflow name is longer than ${max} characters (${trimmed.length}).`;
  const result = validateDisplayName(value, { label: 'dataflow name' });
  if (!result.ok) {
    const chars = [...new Set(result.problems.filter((p) => p.char !== '').map((p) => describeChar(p.char)))];
    return `Dataflow name contains characters a name cannot hold: ${chars.join(', ')}. Use spaces instead: ${JSON.stringify(result.suggestion)}.`;
  }
  return null;
}

export interface HighlightPart {
  text: string;
  bad: boolean;
}

/** Splits a value into runs of accepted and refused characters, for rendering the offenders highlighted. */
export function highlightForbidden(value: string, field: NameField = 'name'): HighlightPart[] {
  const result = validateAudienceName(value, { field });
  const bad = new Set<number>();
  if (!result.ok) {
    for (const p of result.problems) if (p.reason !== 'empty' && p.reason !== 'too_long') bad.add(p.index);
  }
  const parts: HighlightPart[] = [];
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    // Keep surrogate pairs together: they are one character on screen.
    const width = code >= 0xd800 && code <= 0xdbff && i + 1 < value.length ? 2 : 1;
    const char = value.slice(i, i + width);
    const isBad = bad.has(i);
    const shown = isBad && (char === '\n' || char === '\r') ? '⏎' : char;
    const last = parts[parts.length - 1];
    if (last && last.bad === isBad) last.text += shown;
    else parts.push({ text: shown, bad: isBad });
    i += width - 1;
  }
  return parts;
}

// ---------------------------------------------------------------------------------------------------------------------
// Connection fields

export type FieldResult = { ok: true; value: string } | { ok: false; message: string; suggestion?: string };

/** X ads account ids are short base-36 strings such as "18ce54d4x5t". */
export function validateAccountId(value: string): FieldResult {
  const trimmed = value.trim();
  if (trimmed === '')
    return { ok: false, message: 'Account ID is required. Find it in your X Ads account settings.' };
  if (!/^[0-9A-Za-z]{1,32}$/.test(trimmed)) {
    const runs = trimmed.match(/[0-9A-Za-z]+/g) ?? [];
    const cleaned = runs.join('');
    const result: FieldResult = {
      ok: false,
      message:
        cleaned.length > 32
          ? `Account ID has only letters and digits, at most 32 (for example 18ce54d4x5t); this has ${cleaned.length}. Copy it again from your X Ads account settings.`
          : 'Account ID has only letters and digits, at most 32 (for example 18ce54d4x5t).',
    };
    // Only stray characters around one id (quotes, brackets, a trailing period) are dropped to recover it. Gluing
    // separate pieces together ("not an id!" → "notanid") makes up an id, and cutting a long one names another
    // account: no suggestion then.
    const only = runs.length === 1 ? runs[0]! : '';
    if (only !== '' && only.length <= 32) result.suggestion = only;
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

/** A PagerDuty Events API v2 routing key as typed: 32 letters and digits, or empty for none. */
export function validatePagerDutyKey(value: string): FieldResult {
  const trimmed = value.trim();
  if (trimmed === '' || /^[A-Za-z0-9]{32}$/.test(trimmed)) return { ok: true, value: trimmed };
  return {
    ok: false,
    message: `A PagerDuty routing key is 32 letters and digits (the service's Integrations tab, Events API V2); this has ${trimmed.length} characters${/[^A-Za-z0-9]/.test(trimmed) ? ' and others than letters and digits' : ''}.`,
  };
}

/** Alert email recipients as typed: addresses separated by commas, semicolons or whitespace; empty for none. */
export function validateEmailList(
  value: string,
): { ok: true; value: string[] } | { ok: false; message: string } {
  const addresses = [...new Set(value.split(/[\s,;]+/).filter(Boolean))];
  const bad = addresses.filter((a) => !/^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/.test(a));
  if (bad.length > 0)
    return { ok: false, message: `Not an email address: ${bad.join(', ')}. Separate addresses with commas.` };
  if (addresses.length > 20)
    return { ok: false, message: `At most 20 addresses (${addresses.length} given).` };
  return { ok: true, value: addresses };
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
export function validateCredentials(
  fields: CredentialFields,
): Partial<Record<keyof CredentialFields, string>> {
  const errors: Partial<Record<keyof CredentialFields, string>> = {};
  for (const key of Object.keys(CREDENTIAL_LABELS) as (keyof CredentialFields)[]) {
    const value = fields[key];
    if (value.trim() === '') errors[key] = `${CREDENTIAL_LABELS[key]} is required.`;
    else if (/\s/.test(value.trim()))
      errors[key] = `${CREDENTIAL_LABELS[key]} contains spaces; paste it again.`;
  }
  return errors;
}

/** The PIN X shows after "Authorize app" is a short number. */
export function validatePin(value: string): FieldResult {
  const trimmed = value.trim();
  if (!/^\d{4,10}$/.test(trimmed))
    return { ok: false, message: 'Enter the numeric PIN X showed after you authorized.' };
  return { ok: true, value: trimmed };
}

// ---------------------------------------------------------------------------------------------------------------------
// Mapping

export type { MappingRow, MappingProblem };

export type MappingResult = { ok: true } | { ok: false; problems: MappingProblem[] };

export const TARGET_LABELS: Record<XIdentifierType, string> = {
  email: 'email (SHA-256 of the normalized address)',
  device_id: 'device_id (IDFA / GAID / Android ID)',
  phone_number: 'phone_number (SHA-256 of E.164)',
  handle: 'handle (SHA-256 of the @handle)',
  twitter_id: 'twitter_id (SHA-256 of the X user id)',
  partner_user_id: 'partner_user_id (sent as is)',
};

/** Standard identity namespaces and the only X identifier each can feed (the service's own table). */
export const STANDARD_NAMESPACE_TARGETS: Record<string, XIdentifierType> = Object.fromEntries(
  STANDARD_NAMESPACES.map((ns) => [ns, STANDARD_TARGETS[ns][0]!]),
);

/** Identity namespaces offered in the source picker, with the X identifier each one usually maps to. */
export const KNOWN_NAMESPACES: { namespace: string; target: XIdentifierType; hashed: boolean }[] = [
  ...Object.entries(STANDARD_NAMESPACE_TARGETS).map(([namespace, target]) => ({
    namespace,
    target,
    hashed: isHashedNamespace(namespace),
  })),
  { namespace: 'ANDROID_ID', target: 'device_id', hashed: false },
  { namespace: 'CRMID', target: 'partner_user_id', hashed: false },
];

/** Namespaces named `…_SHA256` hold digests, not plain values. */
export function isHashedNamespace(namespace: string): boolean {
  return isHashedSource(namespace.trim());
}

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
 * Checks the mapping step with the service's own rules (`src/audience/mapping-rules.ts`) and lists every problem at
 * once, each reason as a sentence: at least one row mapping a source to an X identifier; a standard namespace feeds
 * only its own identifier; plain standard namespaces need "Apply transformation", hashed ones (`…_SHA256`) must not
 * take it; partner_user_id is sent as is.
 *
 * @example
 *   validateMapping([{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }])
 *   // → { ok: true }
 */
export function validateMapping(rows: readonly MappingRow[]): MappingResult {
  const result = validateMappingRules(rows);
  if (result.ok) return result;
  return { ok: false, problems: result.problems.map((p) => ({ ...p, reason: sentence(p.reason) })) };
}

/** "must be …" → "Must be ….": the service's reasons read as sentences in the console. */
function sentence(reason: string): string {
  const text = reason.charAt(0).toUpperCase() + reason.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Scheduling

export interface ScheduleDraft {
  segmentId: string;
  mappingName: string;
  startDate: string;
  endDate: string;
  existingXAudienceId: string;
  ttlDays: string;
  /** Remove every member from the X audience when the end date passes. */
  removeAtEnd: boolean;
}

export type ScheduleErrors = Partial<Record<Exclude<keyof ScheduleDraft, 'segmentId'>, string>>;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The service stores mapping names of up to 200 characters. */

function isRealDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** Checks one segment's schedule row. `allMappingNames` catches two segments sent to the same X audience name. */
export function validateSchedule(
  draft: ScheduleDraft,
  allMappingNames: readonly string[] = [],
): ScheduleErrors {
  const errors: ScheduleErrors = {};
  const name = validateName(draft.mappingName, { field: 'mappingName' });
  if (!name.ok) errors.mappingName = name.message;
  else {
    const same = allMappingNames.filter(
      (n) => n.trim().toLowerCase() === draft.mappingName.trim().toLowerCase(),
    );
    if (same.length > 1)
      errors.mappingName = 'Another segment uses this mapping name; X audience names are unique.';
  }
  if (draft.startDate === '') errors.startDate = 'Start date is required.';
  else if (!isRealDate(draft.startDate)) errors.startDate = 'Use a date as YYYY-MM-DD.';
  if (draft.endDate !== '') {
    if (!isRealDate(draft.endDate)) errors.endDate = 'Use a date as YYYY-MM-DD.';
    else if (isRealDate(draft.startDate) && draft.endDate < draft.startDate) {
      errors.endDate = 'End date must be on or after the start date.';
    }
  }
  if (
    draft.existingXAudienceId.trim() !== '' &&
    !/^[0-9A-Za-z]{1,64}$/.test(draft.existingXAudienceId.trim())
  ) {
    errors.existingXAudienceId = 'An X audience id has only letters and digits (for example 2906h).';
  }
  if (draft.ttlDays.trim() !== '') {
    const ttl = Number(draft.ttlDays.trim());
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 395) {
      errors.ttlDays = 'TTL is a whole number of days between 1 and 395.';
    }
  }
  if (draft.removeAtEnd && draft.endDate === '') {
    errors.removeAtEnd = 'Choose an end date: members are removed when it passes.';
  }
  return errors;
}

/** Turns a valid schedule draft into the request shape (empty optional fields are left out). */
export function scheduleToRequest(draft: ScheduleDraft): {
  segmentId: string;
  mappingName: string;
  startDate: string;
  endDate?: string;
  existingXAudienceId?: string;
  ttlDays?: number;
  removeMembersAtEnd?: boolean;
} {
  const out: ReturnType<typeof scheduleToRequest> = {
    segmentId: draft.segmentId,
    mappingName: draft.mappingName.trim(),
    startDate: draft.startDate,
  };
  if (draft.endDate !== '') out.endDate = draft.endDate;
  if (draft.existingXAudienceId.trim() !== '') out.existingXAudienceId = draft.existingXAudienceId.trim();
  if (draft.ttlDays.trim() !== '') out.ttlDays = Number(draft.ttlDays.trim());
  if (draft.removeAtEnd) out.removeMembersAtEnd = true;
  return out;
}
