/**
 * Naming rules for what users name: audience names, descriptions and audience mapping names sent to X, names the
 * service keeps for itself (dataflows, segments), and segment ids.
 *
 * X's API fails on these characters in names (the AEP Twitter destination documents the set, and AAM reports the
 * failure as "This request is not properly authenticated", which sends users looking at credentials instead):
 * `+ & , % : ; @ / = ? $` and newline. Other control characters are refused as well.
 *
 * Every name is trimmed: leading and trailing whitespace is never part of it (the console, the API and the CLI store
 * the trimmed value), and a name that is blank once trimmed is refused. Control characters (tabs, line breaks) are
 * refused in every name: they break the tables, logs and CSV reports that show names. Segment ids are keys matched
 * exactly against `segmentMembership`, so they are never altered: one with whitespace around it is refused instead.
 *
 * Length limits: X does not publish them, so we pick limits that every X surface we know of accepts (X's audience
 * search takes name prefixes of up to 255 characters): 200 characters for names of destinations, dataflows and
 * segments (the service's limit, the same in the console and the API), 1000 for descriptions, and 200 for mapping
 * names, which become X audience names with room left for the ` (2)`, ` (3)`… X may need when a deleted audience still
 * holds a name.
 */

export type AudienceTextField = 'name' | 'description' | 'mappingName';

export const MAX_AUDIENCE_TEXT_LENGTH: Readonly<Record<AudienceTextField, number>> = {
  name: 200,
  mappingName: 200,
  description: 1000,
};

/** Names the service keeps for itself (dataflows, segments): the same limit as destination names. */
export const MAX_DISPLAY_NAME_LENGTH = MAX_AUDIENCE_TEXT_LENGTH.name;

/** The characters X refuses in audience names, descriptions and mapping names (newline aside). */
export const FORBIDDEN_NAME_CHARACTERS = ['+', '&', ',', '%', ':', ';', '@', '/', '=', '?', '$'] as const;

export type NameProblemReason =
  | 'forbidden_character'
  | 'control_character'
  | 'invalid_utf16'
  | 'empty'
  | 'too_long'
  /** Segment ids only: whitespace before or after the id, which names trim but ids never do. */
  | 'surrounding_whitespace';

export interface NameProblem {
  /** The offending character ('' for `empty`). */
  char: string;
  /** Its UTF-16 index in the value as given. */
  index: number;
  reason: NameProblemReason;
}

export type NameValidation =
  { ok: true; value: string } | { ok: false; problems: NameProblem[]; suggestion: string; message: string };

const FORBIDDEN = new Set<string>(FORBIDDEN_NAME_CHARACTERS);
// Problems listed one by one up to this many; a value with more is summarized by the message and the suggestion.
const MAX_PROBLEMS = 50;
// Past this many UTF-16 units the value is certainly too long; only a prefix is scanned and sanitized.
const SCAN_LIMIT = 4 * MAX_AUDIENCE_TEXT_LENGTH.description;

const FIELD_LABEL: Readonly<Record<AudienceTextField, string>> = {
  name: 'audience name',
  description: 'description',
  mappingName: 'mapping name',
};

/** How a text is checked: its maximum length, what messages call it, and whether X's rules apply to it. */
interface TextRules {
  max: number;
  label: string;
  /** Sent to X: its forbidden characters are refused too. */
  x: boolean;
}

/**
 * Checks an audience name, description or mapping name against X's naming rules. On failure, every offending
 * character is listed with its position, and a sanitized suggestion is offered (each offending character becomes a
 * space, whitespace runs collapse to one space, and the result is trimmed and cut to the maximum length).
 *
 * @example
 * validateAudienceName('US and European Shoppers', { field: 'name' }); // { ok: true, value: 'US and European Shoppers' }
 * validateAudienceName('US, European Shoppers', { field: 'name' });
 * // { ok: false, problems: [{ char: ',', index: 2, reason: 'forbidden_character' }],
 * //   suggestion: 'US European Shoppers', message: 'The audience name contains "," at position 2, …' }
 * validateAudienceName('Buyers,US EU', { field: 'mappingName' }); // suggestion: 'Buyers US EU'
 */
export function validateAudienceName(
  value: string,
  options: {
    field: AudienceTextField;
    /** What the message calls the value (e.g. 'destination name'); the field's own by default. */
    label?: string;
  },
): NameValidation {
  const field = options.field;
  return checkText(value, {
    max: MAX_AUDIENCE_TEXT_LENGTH[field] ?? MAX_AUDIENCE_TEXT_LENGTH.name,
    label: options.label ?? FIELD_LABEL[field] ?? FIELD_LABEL.name,
    x: true,
  });
}

/**
 * Checks a name the service keeps but never sends to X: a dataflow's or a segment's. Any printable character is
 * fine (a segment named "Buyers: US/EU" in AEP keeps its name; the mapping name its X audience gets is checked with
 * {@link validateAudienceName}), but not a name that is blank once trimmed, control characters (tabs, line breaks), or
 * more than {@link MAX_DISPLAY_NAME_LENGTH} characters. The valid value is the trimmed one.
 *
 * @example
 * validateDisplayName('  CRM to X, daily ', { label: 'dataflow name' }); // { ok: true, value: 'CRM to X, daily' }
 * validateDisplayName('CRM\tto X', { label: 'dataflow name' });
 * // { ok: false, problems: [{ char: '\t', index: 3, reason: 'control_character' }], suggestion: 'CRM to X', … }
 */
export function validateDisplayName(value: string, options: { label: string }): NameValidation {
  return checkText(value, { max: MAX_DISPLAY_NAME_LENGTH, label: options.label, x: false });
}

/**
 * Checks a source segment id as it is registered. The id is the key of the export's `segmentMembership` (and of a
 * CSV's `segment:<id>` column), matched exactly, so it is taken as given or refused, never trimmed: blank, whitespace
 * around it (a copy-paste slip no export would ever match), control characters. Whitespace around an otherwise good id
 * gets the trimmed id as the suggestion; other problems get none (only the source knows the id).
 *
 * @example
 * validateSegmentId('7841ba61-23c1-4bb3-a495-00d3a4e3e0d5'); // { ok: true, value: '7841ba61-23c1-4bb3-a495-00d3a4e3e0d5' }
 * validateSegmentId(' seg-crm '); // { ok: false, problems: [{ char: ' ', index: 0, reason: 'surrounding_whitespace' }],
 * //                                  suggestion: 'seg-crm', message: 'The segment id has whitespace around it…' }
 */
export function validateSegmentId(value: string): NameValidation {
  const text = typeof value === 'string' ? value : '';
  const trimmed = text.trim();
  const problems: NameProblem[] = [];
  if (trimmed.length === 0) problems.push({ char: '', index: 0, reason: 'empty' });
  else if (trimmed !== text) {
    const index = text.length - text.trimStart().length > 0 ? 0 : trimmed.length;
    problems.push({ char: text[index] ?? '', index, reason: 'surrounding_whitespace' });
  }
  const scanned = text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text;
  const start = text.length - text.trimStart().length;
  let count = 0;
  for (let i = start; i < start + trimmed.length && i < scanned.length; i += 1) {
    const reason = characterProblem(scanned, i, false);
    if (reason === 'pair') i += 1;
    else if (reason !== null) {
      count += 1;
      if (problems.length < MAX_PROBLEMS) problems.push({ char: scanned[i] ?? '', index: i, reason });
    }
  }
  if (problems.length === 0) return { ok: true, value: text };
  const suggestion = count === 0 && trimmed.length > 0 ? trimmed : '';
  const parts: string[] = [];
  if (problems.some((p) => p.reason === 'empty'))
    parts.push('The segment id is empty: give the id the source uses in segmentMembership.');
  if (problems.some((p) => p.reason === 'surrounding_whitespace'))
    parts.push(
      'The segment id has whitespace around it: ids are matched exactly against segmentMembership, where it would never appear.',
    );
  const chars = problems.filter((p) => p.reason === 'control_character' || p.reason === 'invalid_utf16');
  if (chars.length > 0)
    parts.push(
      `The segment id contains control characters: ${listed(chars, count)}. Copy the id again from the source.`,
    );
  if (suggestion.length > 0) parts.push(`Suggestion: ${JSON.stringify(suggestion)}.`);
  return { ok: false, problems, suggestion, message: parts.join(' ') };
}

/**
 * What is wrong with the character at `i` of `s`, if anything: 'pair' for the high half of a surrogate pair (the caller
 * skips its low half), null for a character that is fine.
 */
function characterProblem(s: string, i: number, x: boolean): NameProblemReason | 'pair' | null {
  const code = s.charCodeAt(i);
  if (code >= 0xd800 && code <= 0xdbff) {
    const next = s.charCodeAt(i + 1);
    return next >= 0xdc00 && next <= 0xdfff ? 'pair' : 'invalid_utf16';
  }
  if (code >= 0xdc00 && code <= 0xdfff) return 'invalid_utf16';
  if (x && FORBIDDEN.has(s[i] ?? '')) return 'forbidden_character';
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return 'control_character';
  return null;
}

/** Checks `value` by `rules`: every offending character with its position, and a suggestion when it fails. */
function checkText(value: string, rules: TextRules): NameValidation {
  const max = rules.max;
  const text = typeof value === 'string' ? value : '';
  const scanned = text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text;

  const problems: NameProblem[] = [];
  let problemCount = 0;
  let kept = '';
  for (let i = 0; i < scanned.length; i += 1) {
    const reason = characterProblem(scanned, i, rules.x);
    if (reason === 'pair') {
      kept += scanned.slice(i, i + 2);
      i += 1;
      continue;
    }
    if (reason === null) {
      kept += scanned[i] ?? '';
      continue;
    }
    problemCount += 1;
    if (problems.length < MAX_PROBLEMS) problems.push({ char: scanned[i] ?? '', index: i, reason });
    // A refused character usually separates words ("Buyers,US", "Acme: US/EU", a line break or a tab): it becomes a
    // space so the words do not run together. Half a surrogate pair is what is left of one character: it goes.
    if (reason !== 'invalid_utf16') kept += ' ';
  }

  const trimmed = text.trim();
  if (trimmed.length === 0) problems.unshift({ char: '', index: 0, reason: 'empty' });
  if (trimmed.length > max) {
    const start = text.length - text.trimStart().length;
    problems.push({ char: text[start + max] ?? '', index: start + max, reason: 'too_long' });
  }
  if (problems.length === 0) return { ok: true, value: trimmed };

  const suggestion = sanitize(kept, max);
  return {
    ok: false,
    problems,
    suggestion,
    message: describe(rules, problems, problemCount, suggestion),
  };
}

/**
 * The sanitized form of a name: each offending character replaced by a space, whitespace runs collapsed to one space,
 * trimmed and cut to the field's maximum length. It may be empty when nothing usable is left.
 *
 * @example
 * sanitizeAudienceName('US, European Shoppers', 'name'); // 'US European Shoppers'
 * sanitizeAudienceName('Acme: US/EU', 'name'); // 'Acme US EU'
 */
export function sanitizeAudienceName(value: string, field: AudienceTextField): string {
  const result = validateAudienceName(value, { field });
  return result.ok ? result.value : result.suggestion;
}

function sanitize(kept: string, max: number): string {
  let out = kept.replace(/\s+/g, ' ').trim();
  if (out.length > max) {
    out = out.slice(0, max);
    // Never cut a surrogate pair in half.
    const last = out.charCodeAt(out.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
    out = out.trimEnd();
  }
  return out;
}

/** The first ten offending characters with their positions, and how many more there are. */
function listed(chars: readonly NameProblem[], count: number): string {
  const first = chars
    .slice(0, 10)
    .map((p) => `${JSON.stringify(p.char)} at position ${p.index}`)
    .join(', ');
  return count > 10 ? `${first} and ${count - 10} more` : first;
}

function describe(rules: TextRules, problems: NameProblem[], count: number, suggestion: string): string {
  const { label, max } = rules;
  const parts: string[] = [];
  const chars = problems.filter((p) => p.reason !== 'empty' && p.reason !== 'too_long');
  if (problems.some((p) => p.reason === 'empty')) parts.push(`The ${label} is empty.`);
  if (chars.length > 0) {
    parts.push(
      rules.x
        ? `The ${label} contains characters X does not accept: ${listed(chars, count)}. Do not use + & , % : ; @ / = ? $ or line breaks.`
        : `The ${label} contains control characters: ${listed(chars, count)}. Use spaces instead of tabs and line breaks.`,
    );
  }
  if (problems.some((p) => p.reason === 'too_long'))
    parts.push(`The ${label} is longer than ${max} characters.`);
  parts.push(suggestion.length > 0 ? `Suggestion: ${JSON.stringify(suggestion)}.` : `Choose a new ${label}.`);
  return parts.join(' ');
}
