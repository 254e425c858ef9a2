import { failedRequirement, readConsents } from '../audience/consent.ts';
import { applyMapping, attributeValues } from '../audience/mapping.ts';
import type { MappingRow } from '../audience/mapping.ts';
import { sha256Hex } from '../identity/index.ts';
import type { XIdentifierType, XUser } from '../identity/types.ts';
import type { ProfileExport } from '../profile/index.ts';
import type { DataflowContext, SandboxContext } from './dataflow-context.ts';
import { serializeUser } from './xuser.ts';

/** The only segment namespace X audiences take: Adobe's Segmentation Service (`ups`). */
export const ACCEPTED_SEGMENT_NAMESPACE = 'ups';

/** Reason codes for identities or profiles left out of an activation (besides the identity rejection codes). */
export const EXCLUSION_CODES = {
  noIdentifier: 'no_mappable_identifier',
  segmentNamespace: 'segment_namespace_not_supported',
  consentDenied: 'consent_denied',
} as const;

/**
 * Values each mapping row produced for a profile (hashes, or partner ids), by mapping row key, and the profile's
 * consent values (`consent:<attribute>`, see `readConsents`).
 */
export type RowValues = Record<string, string[]>;

export interface ProfileEvaluation {
  /** `k:` + keyed hash of the profile's key identity; `u:` + digest of its identifiers when it has none; null when untrackable. */
  key: string | null;
  /**
   * While the sandbox is re-keyed (`previousKeyNamespaces`): the key the profile had under the namespaces before, when
   * it differs from `key`; a profile not found under `key` is looked for, and adopted, under it. Null otherwise.
   */
  previousKey: string | null;
  /**
   * The keys of the profile's other ids in the namespace its key comes from (a profile the source merged: ECIDs of
   * two devices, say), each the key of a profile met alone before. Such a profile is this one now: it is adopted (when
   * none is stored under `key`) or leaves every audience, so what it added is not held at X for a person it no longer
   * is. Empty for a profile with one id there.
   */
  aliasKeys: string[];
  /**
   * The keys of the profile's ids in the later key namespaces (a CRM id beside the ECID that keys it), each the key of
   * a profile met without this one (a CRM id met before any ECID, or a CSV row's key), looked for once the sandbox
   * may hold one (`SandboxContext.keyAliases`). Such a profile leaves the audiences of the segments this export
   * states, which this profile speaks for now; it keeps the others (a CSV import's segment, say), which its own source
   * still speaks for under that key. Recorded with `aliasKeys` as this profile's (`engine_profile_aliases`), so an
   * export keyed by one of them alone, or a privacy request naming it, finds this profile.
   */
  laterAliasKeys: string[];
  /**
   * Whether `key` comes from a key namespace other than the sandbox's first (a CRM id alone; a CSV row keyed by
   * another namespace): a key a later export may name among its `laterAliasKeys`. Written only once the sandbox looks
   * for such keys (`SandboxContext.keyAliases`).
   */
  laterKey: boolean;
  /** The values each mapping row produced (`RowValues`) as the profile row stores them: JSON. */
  valuesText: string;
  /** The user each dataflow of the context yields (see `userFor`), in the context's dataflow order. */
  users: Array<string | null>;
  /** Indexes of the dataflows whose consent policies the profile fails (its user there is null). */
  consentDenied: number[];
  /** Rejected identifiers per mapping row key, as reason codes. */
  rejections: Record<string, string[]>;
  /** `ups` memberships the export states: true = member (realized / existing), false = exited. */
  memberships: Map<string, boolean>;
  /** Segment ids of memberships in other namespaces (not accepted for this destination). */
  foreignSegments: string[];
}

type Membership = Record<string, Record<string, { status?: unknown } | undefined> | undefined>;
type IdentityMap = Record<string, Array<{ id?: unknown }> | undefined>;

/** The part of a dataflow a profile's users depend on. */
export type EvaluationDataflow = Pick<DataflowContext, 'id' | 'mapping' | 'rowKeys' | 'consent'>;

/**
 * What mapping a profile needs: every mapping row of the sandbox, the profile key namespaces, and the dataflows
 * whose users each profile yields.
 */
export type EvaluationContext = Pick<
  SandboxContext,
  'rows' | 'keyNamespaces' | 'previousKeyNamespaces' | 'keyAliases'
> & {
  dataflows: readonly EvaluationDataflow[];
};

/** An `EvaluationContext` as plain data, to hand to worker threads. */
export interface PlainEvaluationContext {
  rows: Array<[key: string, row: MappingRow]>;
  keyNamespaces: string[];
  previousKeyNamespaces: string[] | null;
  keyAliases: boolean;
  dataflows: EvaluationDataflow[];
}

export function plainEvaluationContext(context: EvaluationContext): PlainEvaluationContext {
  return {
    rows: [...context.rows],
    keyNamespaces: context.keyNamespaces,
    previousKeyNamespaces: context.previousKeyNamespaces,
    keyAliases: context.keyAliases,
    dataflows: context.dataflows.map((d) => ({
      id: d.id,
      mapping: d.mapping,
      rowKeys: d.rowKeys,
      consent: d.consent,
    })),
  };
}

export function evaluationContextOf(plain: PlainEvaluationContext): EvaluationContext {
  return {
    rows: new Map(plain.rows),
    keyNamespaces: plain.keyNamespaces,
    previousKeyNamespaces: plain.previousKeyNamespaces,
    keyAliases: plain.keyAliases,
    dataflows: plain.dataflows,
  };
}

/**
 * Identifies what an evaluation depends on: evaluations made under one fingerprint are valid for any context with
 * the same one (the row keys spell out each row entirely, and each dataflow's row keys its users).
 */
export function evaluationFingerprint(context: EvaluationContext): string {
  const dataflows = context.dataflows
    .map(
      (d) => `${d.id}:${d.rowKeys.join('\u0002')}:${d.consent.length === 0 ? '' : JSON.stringify(d.consent)}`,
    )
    .join('\u0003');
  const previous = context.previousKeyNamespaces?.join(',') ?? '';
  const aliases = context.keyAliases ? 'aliases' : '';
  return `${[...context.rows.keys()].sort().join('\n')}\u0001${context.keyNamespaces.join(',')}\u0001${previous}\u0001${aliases}\u0001${dataflows}`;
}

/** Reads the membership statuses and identities a profile export carries, and maps them with every sandbox row. */
export function evaluateProfile(
  profile: ProfileExport,
  context: EvaluationContext,
  profileKeyHash: (namespace: string, id: string) => string,
): ProfileEvaluation {
  const memberships = new Map<string, boolean>();
  const foreignSegments: string[] = [];
  const segmentMembership = (profile as { segmentMembership?: Membership }).segmentMembership ?? {};
  for (const [namespace, segments] of Object.entries(segmentMembership)) {
    if (!segments) continue;
    for (const [segmentId, entry] of Object.entries(segments)) {
      const status = typeof entry?.status === 'string' ? entry.status.toLowerCase() : '';
      if (namespace.toLowerCase() !== ACCEPTED_SEGMENT_NAMESPACE) {
        foreignSegments.push(segmentId);
        continue;
      }
      if (status === 'realized' || status === 'existing') memberships.set(segmentId, true);
      else if (status === 'exited') memberships.set(segmentId, false);
    }
  }

  const values: RowValues = {};
  const rejections: Record<string, string[]> = {};
  for (const [rowKey, row] of context.rows) {
    const result = applyMapping([row], profile);
    // Distinct already (`applyMapping` collects a set), and made for this call: sorted in place.
    const produced = result.user[row.target as XIdentifierType];
    if (produced && produced.length > 0) values[rowKey] = produced.length === 1 ? produced : produced.sort();
    if (result.rejected.length > 0) rejections[rowKey] = result.rejected.map((r) => r.code);
  }

  const identityMap = (profile as { identityMap?: IdentityMap }).identityMap ?? {};
  const keying: Keying = { aliases: [], laterAliases: [], later: false };
  const key = profileKeyOf(identityMap, context.keyNamespaces, values, profileKeyHash, keying);
  const aliasKeys = keying.aliases;
  const laterAliasKeys = keying.laterAliases;
  let previousKey: string | null = null;
  if (context.previousKeyNamespaces !== null && key !== null) {
    previousKey = profileKeyOf(identityMap, context.previousKeyNamespaces, values, profileKeyHash);
    if (previousKey === key) previousKey = null;
    // The key before a re-keying is adopted by the re-keying's own rules (`previousKey`), not as a merged profile.
    if (previousKey !== null)
      for (const keys of [aliasKeys, laterAliasKeys]) {
        const at = keys.indexOf(previousKey);
        if (at >= 0) keys.splice(at, 1);
      }
  }
  for (const [consentKey, consentValues] of readConsents(profile, attributeValues))
    values[consentKey] = consentValues;
  return {
    key,
    previousKey,
    aliasKeys,
    laterAliasKeys,
    laterKey: keying.later,
    valuesText: JSON.stringify(values),
    ...usersOf(context.dataflows, values),
    rejections,
    memberships,
    foreignSegments,
  };
}

/** What `profileKeyOf` tells besides the key, and whether to look for the later namespaces' keys. */
interface Keying {
  /** The keys of the profile's other ids in the key's namespace: see `ProfileEvaluation.aliasKeys`. */
  aliases: string[];
  /** The keys of its ids in the namespaces after the key's: see `ProfileEvaluation.laterAliasKeys`. */
  laterAliases: string[];
  /** Set when the key comes from a namespace other than the first. */
  later: boolean;
}

/**
 * A profile's key under `namespaces` (upper case, in order of preference): `k:` + the keyed hash of its id in the
 * first of them it has (several ids in one: the smallest, so the key does not depend on the order the source lists
 * them, and the others' keys go to `keying.aliases`; the keys of its ids in the later namespaces go to
 * `keying.laterAliases`); else `u:` + a digest of its mapped identifiers (`values` before consent values join them);
 * else null.
 */
function profileKeyOf(
  identityMap: IdentityMap,
  namespaces: readonly string[],
  values: RowValues,
  profileKeyHash: (namespace: string, id: string) => string,
  keying?: Keying,
): string | null {
  // Only the key namespaces' ids are needed (matched without case).
  const byNamespace = new Map<string, string[]>();
  for (const namespace in identityMap) {
    const upper = namespace.toUpperCase();
    if (!namespaces.includes(upper)) continue;
    // `ECID` and `ecid` both listed are one namespace, as the mapping reads them: their ids together. A blank id
    // keys nobody: it would make one profile of everyone who has it.
    const ids = byNamespace.get(upper) ?? [];
    for (const e of identityMap[namespace] ?? [])
      if (typeof e?.id === 'string' && e.id.trim() !== '') ids.push(e.id);
    if (ids.length > 0) byNamespace.set(upper, ids);
  }
  for (let i = 0; i < namespaces.length; i += 1) {
    const namespace = namespaces[i]!;
    const ids = byNamespace.get(namespace);
    if (!ids) continue;
    let key: string;
    if (ids.length === 1) key = `k:${profileKeyHash(namespace, ids[0]!)}`;
    else {
      const [id, ...others] = [...new Set(ids)].sort();
      key = `k:${profileKeyHash(namespace, id!)}`;
      if (keying) for (const other of others) keying.aliases.push(`k:${profileKeyHash(namespace, other)}`);
    }
    if (keying) {
      keying.later = i > 0;
      // A profile met before without this one, by an id of a later namespace alone (a CRM id before any ECID).
      if (byNamespace.size > 1)
        for (const later of namespaces.slice(i + 1))
          for (const other of new Set(byNamespace.get(later)))
            keying.laterAliases.push(`k:${profileKeyHash(later, other)}`);
    }
    return key;
  }
  // Identifiers only: a profile whose consent changes is still the same profile.
  const rowKeys = Object.keys(values).sort();
  if (rowKeys.length === 0) return null;
  // A digest of digests: the identifiers themselves are hashes already (partner ids aside).
  return `u:${sha256Hex(JSON.stringify(rowKeys.map((k) => [k, values[k]])))}`;
}

/**
 * The user each dataflow yields from a profile's values (see `userFor`), and the indexes of the dataflows whose
 * consent policies the profile fails.
 */
export function usersOf(
  dataflows: readonly EvaluationDataflow[],
  values: RowValues,
): Pick<ProfileEvaluation, 'users' | 'consentDenied'> {
  const consentDenied: number[] = [];
  const users = dataflows.map((dataflow, index) => {
    if (dataflow.consent.length > 0 && failedRequirement(dataflow.consent, values) !== null) {
      consentDenied.push(index);
      return null;
    }
    return userFor(dataflow, values);
  });
  return { users, consentDenied };
}

/**
 * The user a dataflow's mapping yields from stored row values; canonical JSON, or null when it has no identifier or
 * the profile fails one of the dataflow's consent policies.
 */
export function userFor(
  dataflow: Pick<DataflowContext, 'mapping' | 'rowKeys'> & Partial<Pick<DataflowContext, 'consent'>>,
  values: RowValues,
): string | null {
  if (dataflow.consent && dataflow.consent.length > 0 && failedRequirement(dataflow.consent, values) !== null)
    return null;
  const user: XUser = {};
  dataflow.mapping.forEach((row: MappingRow, index) => {
    const produced = values[dataflow.rowKeys[index]!];
    if (!produced || produced.length === 0) return;
    const target = row.target as XIdentifierType;
    (user[target] ??= []).push(...produced);
  });
  // `serializeUser` puts the user in canonical form itself.
  return serializeUser(user);
}

/** Reason codes of the identifiers a dataflow's mapping rejected for this profile. */
export function rejectionsFor(
  dataflow: Pick<DataflowContext, 'rowKeys'>,
  rejections: Record<string, string[]>,
): string[] {
  const codes: string[] = [];
  for (const key of new Set(dataflow.rowKeys)) for (const code of rejections[key] ?? []) codes.push(code);
  return codes;
}
