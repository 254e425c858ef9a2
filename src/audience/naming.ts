/**
 * Naming rules for audience names, descriptions and audience mapping names sent to X.
 *
 * X's API fails on these characters in names (the AEP Twitter destination documents the set, and AAM reports the
 * failure as "This request is not properly authenticated", which sends users looking at credentials instead):
 * `+ & , % : ; @ / = ? $` and newline. Other control characters are refused as well.
 *
 * Length limits: X does not publish them, so we pick limits that every X surface we know of accepts (X's audience
 * search takes name prefixes of up to 255 characters): 200 characters for names of destinations and dataflows (the
 * service's limit, the same in the console and the API), 1000 for descriptions, and 200 for mapping names, which become
 * X audience names with room left for the ` (2)`, ` (3)`… X may need when a deleted audience still holds a name.
 */

export type AudienceTextField = 'name' | 'description' | 'mappingName';

export const MAX_AUDIENCE_TEXT_LENGTH: Readonly<Record<AudienceTextField, number>> = {
  name: 200,
  mappingName: 200,
  description: 1000,
};

/** The characters X refuses in audience names, descriptions and mapping names (newline aside). */
export const FORBIDDEN_NAME_CHARACTERS = ['+', '&', ',', '%', ':', ';', '@', '/', '=', '?', '$'] as const;

export type NameProblemReason =
  'forbidden_character' | 'control_character' | 'invalid_utf16' | 'empty' | 'too_long';

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

/**
 * Checks an audience name, description or mapping name against X's naming rules. On failure, every offending
 * character is listed with its position, and a sanitized suggestion is offered (offending characters removed,
 * whitespace collapsed, trimmed and cut to the maximum length).
 *
 * @example
 * validateAudienceName('US and European Shoppers', { field: 'name' }); // { ok: true, value: 'US and European Shoppers' }
 * validateAudienceName('US, European Shoppers', { field: 'name' });
 * // { ok: false, problems: [{ char: ',', index: 2, reason: 'forbidden_character' }],
 * //   suggestion: 'US European Shoppers', message: 'The audience name contains "," at position 2, …' }
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
  const max = MAX_AUDIENCE_TEXT_LENGTH[field] ?? MAX_AUDIENCE_TEXT_LENGTH.name;
  const label = options.label ?? FIELD_LABEL[field] ?? FIELD_LABEL.name;
  const text = typeof value === 'string' ? value : '';
  const scanned = text.length > SCAN_LIMIT ? text.slice(0, SCAN_LIMIT) : text;

  const problems: NameProblem[] = [];
  let problemCount = 0;
  let kept = '';
  for (let i = 0; i < scanned.length; i += 1) {
    const code = scanned.charCodeAt(i);
    const char = scanned[i] ?? '';
    let reason: NameProblemReason | null = null;
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = scanned.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        kept += scanned.slice(i, i + 2);
        i += 1;
        continue;
      }
      reason = 'invalid_utf16';
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      reason = 'invalid_utf16';
    } else if (FORBIDDEN.has(char)) {
      reason = 'forbidden_character';
    } else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      reason = 'control_character';
    }
    if (reason === null) {
      kept += char;
      continue;
    }
    problemCount += 1;
    if (problems.length < MAX_PROBLEMS) problems.push({ char, index: i, reason });
    // A line break or tab separates words: keep the gap so the words do not run together.
    if (reason === 'control_character') kept += ' ';
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
    message: describe(label, problems, problemCount, max, suggestion),
  };
}

/**
 * The sanitized form of a name: offending characters removed, whitespace runs collapsed to one space, trimmed and cut
 * to the field's maximum length. It may be empty when nothing usable is left.
 *
 * @example
 * sanitizeAudienceName('US, European Shoppers', 'name'); // 'US European Shoppers'
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

function describe(
  label: string,
  problems: NameProblem[],
  count: number,
  max: number,
  suggestion: string,
): string {
  const parts: string[] = [];
  const chars = problems.filter((p) => p.reason !== 'empty' && p.reason !== 'too_long');
  if (problems.some((p) => p.reason === 'empty')) parts.push(`The ${label} is empty.`);
  if (chars.length > 0) {
    const listed = chars
      .slice(0, 10)
      .map((p) => `${JSON.stringify(p.char)} at position ${p.index}`)
      .join(', ');
    const more = count > 10 ? ` and ${count - 10} more` : '';
    parts.push(
      `The ${label} contains characters X does not accept: ${listed}${more}. Do not use + & , % : ; @ / = ? $ or line breaks.`,
    );
  }
  if (problems.some((p) => p.reason === 'too_long'))
    parts.push(`The ${label} is longer than ${max} characters.`);
  parts.push(suggestion.length > 0 ? `Suggestion: ${JSON.stringify(suggestion)}.` : `Choose a new ${label}.`);
  return parts.join(' ');
}
