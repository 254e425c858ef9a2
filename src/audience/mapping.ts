import {
  normalizeIdentity,
  X_IDENTIFIER_TYPES,
  type IdentityRejectionCode,
  type XIdentifierType,
  type XUser,
} from '../identity/index.ts';
import type { ProfileExport } from '../profile/index.ts';
import { deviceKindForNamespace, isHashedNamespace, type MappingRow } from './mapping-rules.ts';

export {
  STANDARD_NAMESPACES,
  STANDARD_TARGETS,
  deviceKindForNamespace,
  isHashedNamespace,
  standardNamespace,
  validateMapping,
  type MappingField,
  type MappingProblem,
  type MappingRow,
  type MappingValidation,
  type StandardNamespace,
} from './mapping-rules.ts';

const TARGETS: ReadonlySet<string> = new Set(X_IDENTIFIER_TYPES);

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
export function attributeValues(profile: ProfileExport, path: string): unknown[] {
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
