import type { ProfileEvaluation } from './profile-state.ts';

// Evaluations cross from import worker threads as text: a structured clone of thousands of small objects (Maps, arrays)
// costs both threads more than the evaluation itself, and one string crosses in a single copy. Evaluations are
// separated by a newline, their fields by U+0001 and users by U+0002; no field can hold any of them raw (keys are hex
// digests, the rest JSON text, which escapes every control character).
export const EVALUATION_SEPARATOR = '\n';
export const FIELD_SEPARATOR = '\u0001';
const USER_SEPARATOR = '\u0002';
/** Stands for a null user: a user is JSON text, which never reads `-`. */
const NO_USER = '-';

/** The fields `encodeEvaluation` writes, in order. */
const EVALUATION_FIELDS = 11;

/** An evaluation as one line of text (see `decodeEvaluation`). */
export function encodeEvaluation(e: ProfileEvaluation): string {
  return [
    e.key ?? '',
    e.valuesText,
    e.users.map((user) => user ?? NO_USER).join(USER_SEPARATOR),
    e.consentDenied.join(','),
    Object.keys(e.rejections).length === 0 ? '' : JSON.stringify(e.rejections),
    e.memberships.size === 0 ? '' : JSON.stringify([...e.memberships]),
    e.foreignSegments.length === 0 ? '' : JSON.stringify(e.foreignSegments),
    e.previousKey ?? '',
    e.aliasKeys.join(','),
    e.laterAliasKeys.join(','),
    e.laterKey ? '1' : '',
  ].join(FIELD_SEPARATOR);
}

/** The evaluation whose `encodeEvaluation` fields start at `fields[at]`, as it was. */
export function decodeEvaluation(fields: readonly string[], at = 0): ProfileEvaluation {
  const [
    key,
    valuesText,
    users,
    consentDenied,
    rejections,
    memberships,
    foreign,
    previousKey,
    aliasKeys,
    laterAliasKeys,
    laterKey,
  ] = fields.slice(at, at + EVALUATION_FIELDS) as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    key: key === '' ? null : key,
    previousKey: previousKey === '' ? null : previousKey,
    aliasKeys: aliasKeys === '' ? [] : aliasKeys.split(','),
    laterAliasKeys: laterAliasKeys === '' ? [] : laterAliasKeys.split(','),
    laterKey: laterKey === '1',
    valuesText,
    users: users === '' ? [] : users.split(USER_SEPARATOR).map((user) => (user === NO_USER ? null : user)),
    consentDenied: consentDenied === '' ? [] : consentDenied.split(',').map(Number),
    rejections: rejections === '' ? {} : (JSON.parse(rejections) as Record<string, string[]>),
    memberships: new Map(memberships === '' ? [] : (JSON.parse(memberships) as Array<[string, boolean]>)),
    foreignSegments: foreign === '' ? [] : (JSON.parse(foreign) as string[]),
  };
}
