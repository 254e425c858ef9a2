import {
  normalizeIdentity,
  X_IDENTIFIER_TYPES,
  type DeviceKind,
  type IdentityRejectionCode,
  type XIdentifierType,
  type XUser,
} from '../identity/index.ts';
import type { ProfileExport } from '../profile/index.ts';

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

// Which X identifier each standard namespace can feed. Mapping Email to partner_user_id, say, would send raw
// addresses to X unhashed, so anything outside this table is refused.
const STANDARD_TARGETS: Readonly<Record<StandardNamespace, readonly XIdentifierType[]>> = {
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

/**
 * Checks a mapping before it is saved: at least one identity target; known targets only; hashed sources cannot take
 * "Apply transformation" (it would hash a hash); plain standard namespaces feeding a hashed target require it;
 * `partner_user_id` is sent unhashed so it cannot take it; a standard namespace only feeds its own identifier.
 * Accepts anything (rows straight from a request body) and never throws.
 *
 * @example
 * validateMapping([{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }]); // { ok: true }
 * validateMapping([{ sourceType: 'namespace', source: 'Email_LC_SHA256', target: 'email', applyTransformation: true }]);
 * // { ok: false, problems: [{ index: 0, field: 'applyTransformation', reason: '…already SHA-256 digests…' }] }
 */
export function validateMapping(rows: unknown): MappingValidation {
  if (!Array.isArray(rows)) {
    return { ok: false, problems: [{ index: -1, field: 'rows', reason: 'a mapping is a list of rows' }] };
  }
  const problems: MappingProblem[] = [];
  let identityTargets = 0;
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

export interface MappingRejection {
  source: string;
  target: XIdentifierType;
  code: IdentityRejectionCode;
  message: string;
}

export interface MappedUser {
  /** The X user object: hashed values per identifier (partner_user_id as is), de-duplicated, in profile order. */
  user: XUser;
  /** Values that could not be used, by source and reason; the values themselves are never included. */
  rejected: MappingRejection[];
}

/**
 * Applies a mapping to one profile: collects each source's values, normalizes and hashes them for the target (or
 * checks declared digests), and returns the X user object plus the refused values' reasons.
 *
 * @example
 * applyMapping(
 *   [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
 *   { segmentMembership: {}, identityMap: { email: [{ id: ' Jane@Example.com ' }, { id: 'jane@example.com' }] }, attributes: {} },
 * );
 * // { user: { email: ['8c87b489…'] }, rejected: [] }
 */
export function applyMapping(
  rows: readonly MappingRow[],
  profile: ProfileExport,
  options: { region?: string } = {},
): MappedUser {
  const values = new Map<XIdentifierType, Set<string>>();
  const rejected: MappingRejection[] = [];
  for (const row of rows) {
    if (!TARGETS.has(row.target)) continue;
    const hashed =
      row.target !== 'partner_user_id' &&
      ((row.sourceType === 'namespace' && isHashedNamespace(row.source)) || !row.applyTransformation);
    const deviceKind = row.sourceType === 'namespace' ? deviceKindForNamespace(row.source) : undefined;
    const normalizeOptions = {
      hashed,
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(deviceKind === undefined ? {} : { deviceKind }),
    };
    const sourceValues =
      row.sourceType === 'namespace'
        ? namespaceValues(profile, row.source)
        : attributeValues(profile, row.source);
    for (const raw of sourceValues) {
      // Non-text values reach normalizeIdentity too: it refuses them with `not_text` instead of guessing.
      const result = normalizeIdentity(row.target, raw as string, normalizeOptions);
      if (result.ok) {
        const set = values.get(row.target) ?? new Set<string>();
        set.add(result.value);
        values.set(row.target, set);
      } else {
        rejected.push({ source: row.source, target: row.target, code: result.code, message: result.message });
      }
    }
  }
  const user: XUser = {};
  for (const type of X_IDENTIFIER_TYPES) {
    const set = values.get(type);
    if (set !== undefined && set.size > 0) user[type] = [...set];
  }
  return { user, rejected };
}

/** The ids of every identityMap namespace whose name matches `namespace` without case. */
function namespaceValues(profile: ProfileExport, namespace: string): unknown[] {
  const wanted = namespace.toLowerCase();
  const out: unknown[] = [];
  for (const [key, identities] of Object.entries(profile.identityMap ?? {})) {
    if (key.toLowerCase() !== wanted || !Array.isArray(identities)) continue;
    for (const identity of identities) out.push((identity as { id?: unknown } | null)?.id);
  }
  return out;
}

/**
 * The values at an attribute path: an exact key of `attributes` first (`personalEmail.address`), then the dotted path
 * inside `attributes`, then inside the profile's own fields (raw XDM). Freeform `{ value }` wrappers are unwrapped,
 * lists are flattened, numbers become their decimal text; absent values yield nothing.
 */
function attributeValues(profile: ProfileExport, path: string): unknown[] {
  const attributes = profile.attributes ?? {};
  let found: unknown = Object.hasOwn(attributes, path) ? attributes[path] : undefined;
  if (found === undefined) found = walk(attributes, path);
  if (found === undefined) found = walk(profile, path);
  const out: unknown[] = [];
  collect(found, out, 0);
  return out;
}

function walk(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function collect(value: unknown, out: unknown[], depth: number): void {
  if (value === undefined || value === null || depth > 3) return;
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'bigint') out.push(String(value));
  else if (Array.isArray(value)) for (const item of value) collect(item, out, depth + 1);
  else if (typeof value === 'object') {
    // A freeform attribute is `{ value }` when present and `{}` when absent.
    if (Object.hasOwn(value, 'value')) collect((value as { value: unknown }).value, out, depth + 1);
    else if (Object.keys(value).length > 0) out.push(value);
  } else out.push(value);
}
