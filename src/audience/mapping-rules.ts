import { X_IDENTIFIER_TYPES, type XIdentifierType } from '../identity/types.ts';
import type { DeviceKind } from '../identity/index.ts';

// The mapping rules on their own, free of the normalizers and hashing, so the console checks a mapping with the very
// rules the service applies (web/src/validation.ts imports this module).

/**
 * A mapping says which profile values become which X identifiers. A source is an identity namespace of the profile's
 * `identityMap` (standard or custom) or an attribute path; the target is one of X's identifier types.
 *
 * "Apply transformation" means: the source holds plain values, normalize and hash them. Without it the source is
 * declared hashed, and every value must already be a SHA-256 digest (a plain value is then refused, never sent).
 */
export interface MappingRow {
  sourceType: 'namespace' | 'attribute';
  source: string;
  target: XIdentifierType;
  applyTransformation: boolean;
}

export const STANDARD_NAMESPACES = [
  'Email',
  'Email_LC_SHA256',
  'Phone',
  'Phone_E.164',
  'Phone_SHA256',
  'GAID',
  'IDFA',
] as const;
export type StandardNamespace = (typeof STANDARD_NAMESPACES)[number];

/**
 * Which X identifier each standard namespace can feed. Mapping Email to partner_user_id, say, would send raw
 * addresses to X unhashed, so anything outside this table is refused.
 */
export const STANDARD_TARGETS: Readonly<Record<StandardNamespace, readonly XIdentifierType[]>> = {
  Email: ['email'],
  Email_LC_SHA256: ['email'],
  Phone: ['phone_number'],
  'Phone_E.164': ['phone_number'],
  Phone_SHA256: ['phone_number'],
  GAID: ['device_id'],
  IDFA: ['device_id'],
};

const STANDARD_BY_LOWER: ReadonlyMap<string, StandardNamespace> = new Map(
  STANDARD_NAMESPACES.map((ns) => [ns.toLowerCase(), ns]),
);
const TARGETS: ReadonlySet<string> = new Set(X_IDENTIFIER_TYPES);
const MAX_SOURCE_LENGTH = 255;

/**
 * The standard namespace `namespace` names, compared without case (exports write `email`, `gaid`, `Email`, …).
 *
 * @example
 * standardNamespace('email_lc_sha256'); // 'Email_LC_SHA256'
 */
export function standardNamespace(namespace: string): StandardNamespace | undefined {
  return STANDARD_BY_LOWER.get(namespace.toLowerCase());
}

/**
 * Whether a namespace holds SHA-256 digests rather than plain values: `Email_LC_SHA256`, `Phone_SHA256`, and any
 * custom namespace named `…_SHA256`.
 *
 * @example
 * isHashedNamespace('Phone_SHA256'); // true
 * isHashedNamespace('Phone_E.164');  // false
 */
export function isHashedNamespace(namespace: string): boolean {
  return /_sha256$/i.test(namespace);
}

/**
 * The device identifier kind a namespace implies, if any: IDFA → `idfa`, GAID → `gaid`, ANDROID_ID → `android_id`.
 *
 * @example
 * deviceKindForNamespace('IDFA');  // 'idfa'
 * deviceKindForNamespace('Email'); // undefined
 */
export function deviceKindForNamespace(namespace: string): DeviceKind | undefined {
  switch (namespace.toLowerCase()) {
    case 'idfa':
      return 'idfa';
    case 'gaid':
      return 'gaid';
    case 'android_id':
      return 'android_id';
    default:
      return undefined;
  }
}

export type MappingField = 'rows' | 'sourceType' | 'source' | 'target' | 'applyTransformation';
export interface MappingProblem {
  /** Row index, or -1 for a problem with the mapping as a whole. */
  index: number;
  field: MappingField;
  reason: string;
}
export type MappingValidation = { ok: true } | { ok: false; problems: MappingProblem[] };

export interface MappingValidationOptions {
  /** How a reason names another row (default `row 2`, as the console numbers them; the API: `mapping[1]`). */
  rowName?: (index: number) => string;
}

/**
 * What a row reads, as ingest reads it: a namespace is matched without case (`Email` and `email` read the same
 * identities), an attribute path exactly (`person.Email` and `person.email` are different fields).
 */
function sourceIdentity(row: MappingRow): string {
  return row.sourceType === 'namespace' ? `namespace|${row.source.toLowerCase()}` : `attribute|${row.source}`;
}

/**
 * Checks a mapping before it is saved: at least one identity target; known targets only; hashed sources cannot take
 * "Apply transformation" (it would hash a hash); plain standard namespaces feeding a hashed target require it;
 * `partner_user_id` is sent unhashed so it cannot take it; a standard namespace only feeds its own identifier; no
 * source feeds the same identifier twice (namespaces compared without case, attribute paths exactly, as ingest reads
 * them), reported at the later row with the earlier one named by `options.rowName`. Accepts anything (rows straight
 * from a request body) and never throws.
 *
 * @example
 * validateMapping([{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }]); // { ok: true }
 * validateMapping([{ sourceType: 'namespace', source: 'Email_LC_SHA256', target: 'email', applyTransformation: true }]);
 * // { ok: false, problems: [{ index: 0, field: 'applyTransformation', reason: '…already SHA-256 digests…' }] }
 */
export function validateMapping(rows: unknown, options: MappingValidationOptions = {}): MappingValidation {
  if (!Array.isArray(rows)) {
    return { ok: false, problems: [{ index: -1, field: 'rows', reason: 'a mapping is a list of rows' }] };
  }
  const rowName = options.rowName ?? ((index: number) => `row ${index + 1}`);
  const problems: MappingProblem[] = [];
  let identityTargets = 0;
  /** The first well-formed row reading each source into each target, by source identity and target. */
  const firstRow = new Map<string, { index: number; row: MappingRow }>();
  rows.forEach((row: unknown, index) => {
    const add = (field: MappingField, reason: string): void => {
      problems.push({ index, field, reason });
    };
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      add('rows', 'a row is an object { sourceType, source, target, applyTransformation }');
      return;
    }
    const { sourceType, source, target, applyTransformation } = row as Record<string, unknown>;
    let valid = true;
    if (sourceType !== 'namespace' && sourceType !== 'attribute') {
      add('sourceType', 'must be "namespace" (an identity namespace) or "attribute" (an attribute path)');
      valid = false;
    }
    if (typeof source !== 'string' || source.trim().length === 0) {
      add('source', 'must name an identity namespace or an attribute path');
      valid = false;
    } else if (source.length > MAX_SOURCE_LENGTH) {
      add('source', `must be at most ${MAX_SOURCE_LENGTH} characters`);
      valid = false;
    }
    if (typeof target !== 'string' || !TARGETS.has(target)) {
      add('target', `unknown target; X accepts ${X_IDENTIFIER_TYPES.join(', ')}`);
      valid = false;
    }
    if (typeof applyTransformation !== 'boolean') {
      add('applyTransformation', 'must be true or false');
      valid = false;
    }
    if (!valid) return;
    const r = row as MappingRow;
    identityTargets += 1;
    // The same source read into the same identifier twice: a row that adds nothing (its values are the other's), or,
    // when the two differ in "Apply transformation", one that is wrong about what the source holds and refuses them.
    const key = `${sourceIdentity(r)}|${r.target}`;
    const first = firstRow.get(key);
    if (first === undefined) firstRow.set(key, { index, row: r });
    else {
      const what = r.sourceType === 'namespace' ? 'namespace' : 'attribute';
      const sameText = first.row.source === r.source;
      add(
        'source',
        `maps the ${what} "${r.source}" to ${r.target} again: ${rowName(first.index)} ("${first.row.source}" → ` +
          `${first.row.target}) already does` +
          (sameText ? '' : ' (namespace names match without regard to case)') +
          (first.row.applyTransformation === r.applyTransformation
            ? '. Remove one of the two rows'
            : '. The two rows differ in "Apply transformation": keep the one that says what the source holds ' +
              '(plain values: on; SHA-256 digests: off) and remove the other'),
      );
    }
    const hashedSource = r.sourceType === 'namespace' && isHashedNamespace(r.source);
    const standard = r.sourceType === 'namespace' ? standardNamespace(r.source) : undefined;
    if (standard !== undefined && !STANDARD_TARGETS[standard].includes(r.target)) {
      add(
        'target',
        `the ${standard} namespace can only be mapped to ${STANDARD_TARGETS[standard].join(', ')}`,
      );
    }
    if (r.target === 'partner_user_id') {
      if (r.applyTransformation) {
        add('applyTransformation', 'X takes partner_user_id unhashed: turn "Apply transformation" off');
      }
      return;
    }
    if (hashedSource && r.applyTransformation) {
      add(
        'applyTransformation',
        'this namespace already holds SHA-256 digests; hashing them again would never match: turn "Apply transformation" off',
      );
    }
    if (standard !== undefined && !hashedSource && !r.applyTransformation) {
      add(
        'applyTransformation',
        `${standard} holds plain values, which X only accepts normalized and hashed: turn "Apply transformation" on`,
      );
    }
  });
  if (identityTargets === 0) {
    problems.unshift({
      index: -1,
      field: 'rows',
      reason: 'map at least one source to an X identifier (e.g. Email → email)',
    });
  }
  return problems.length === 0 ? { ok: true } : { ok: false, problems };
}
