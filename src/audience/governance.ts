/**
 * Data governance for activations: data-usage labels on segments, marketing actions on destinations, and the
 * policies that forbid an action on data with a label. An activation sends individual identifiers of every member of
 * a segment to X, a third party, for ad targeting; a segment whose labels forbid what the destination is used for
 * cannot be activated there, and a change that would make an existing activation break a policy is refused.
 *
 * Labels follow AEP's data-usage labels (contract C1–C12, identity I1–I2, sensitive S1, S2, PSPD, RHD); any other
 * label (a custom one) is kept and shown but restricts nothing by itself.
 */

import { editDistance } from '../text/edit-distance.ts';
import { checkPolicyNameAndId, type PolicyProblem } from './policy-checks.ts';

/** The labels the policies know, with what each one means. */
export const DATA_USAGE_LABELS: Readonly<Record<string, string>> = {
  C1: 'export only in aggregated form, without individual or device identifiers',
  C2: 'no export to a third party',
  C3: 'no combination with directly identifiable information',
  C4: 'no targeting of ads or content, on-site or cross-site',
  C5: 'no interest-based cross-site targeting',
  C6: 'no on-site ad targeting',
  C7: 'no on-site content targeting',
  C8: 'no measurement of own sites or apps',
  C9: 'no data-science use',
  C10: 'no activation of stitched identities',
  C11: 'no Segment Match',
  C12: 'no export in any way',
  I1: 'directly identifiable data',
  I2: 'indirectly identifiable data',
  S1: 'precise location',
  S2: 'broad geofence',
  PSPD: 'permitted sensitive personal data',
  RHD: 'regulated health data',
};

/** AEP's marketing actions; destinations may name custom ones too. */
export const MARKETING_ACTIONS = [
  'Analytics',
  'Combine with directly identifiable data',
  'Cross Site Targeting',
  'Data Science',
  'Email Targeting',
  'Export to Third Party',
  'Onsite Advertising',
  'Onsite Personalization',
  'Segment Match',
  'Single Identity Personalization',
] as const;

/**
 * The key actions are matched by, everywhere (policies, consent policies): their letters and digits without case, so
 * `Export to third-party` is `Export to Third Party` (and is stored so), and a destination that took such a spelling
 * before is held to the core action's policies.
 */
export const actionKey = (action: string) => action.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
const CORE_BY_KEY: ReadonlyMap<string, string> = new Map(MARKETING_ACTIONS.map((a) => [actionKey(a), a]));

/**
 * The core marketing action `action` is a slip of, if any: one letter added, dropped, changed or swapped
 * (`Exprot to Third Party`). Such an action would be taken as a custom one, which no core policy restricts. A core
 * action itself (in any case, spacing or punctuation: `Export to third-party`) is no slip; nor is a custom action two
 * letters or more away (`Offsite Advertising`).
 *
 * @example
 * coreActionSlip('Exprot to Third Party'); // 'Export to Third Party'
 * coreActionSlip('Export to third-party'); // undefined: the core action, spelt otherwise
 */
export function coreActionSlip(action: string): string | undefined {
  const given = actionKey(action);
  if (given === '' || CORE_BY_KEY.has(given)) return undefined;
  return MARKETING_ACTIONS.find(
    (core) => editDistance(given, actionKey(core), { transpositions: true }) <= 1,
  );
}

/**
 * Marketing actions as given, in their stored form: a core action in another case or with spaces around takes its
 * core spelling (it is matched as the core one anyway), each action once, custom ones as given. A slip of a core
 * action (`coreActionSlip`) is a problem at its index, naming the core action meant.
 *
 * @example
 * checkMarketingActions([' analytics', 'Export to third-party', 'Loyalty Rewards']);
 * // { actions: ['Analytics', 'Export to third-party', 'Loyalty Rewards'],
 * //   problems: [{ index: 1, reason: '"Export to third-party" is not a core marketing action: did you mean "Export to Third Party"? …' }] }
 */
export function checkMarketingActions(actions: readonly string[]): {
  actions: string[];
  problems: Array<{ index: number; reason: string }>;
} {
  const problems: Array<{ index: number; reason: string }> = [];
  actions.forEach((action, index) => {
    const meant = coreActionSlip(action);
    if (meant !== undefined)
      problems.push({
        index,
        reason:
          `"${action}" is not a core marketing action: did you mean "${meant}"? As written it would be a custom ` +
          `action, which the core policies on "${meant}" do not restrict; a custom action needs a name of its own`,
      });
  });
  return {
    actions: [...new Set(actions.map((a) => CORE_BY_KEY.get(actionKey(a)) ?? a))],
    problems,
  };
}

export interface Policy {
  name: string;
  /** The marketing action the policy restricts; null: every activation to X (it exports individual identifiers). */
  action: string | null;
  /** Data with any of these labels may not be used for the action. */
  labels: readonly string[];
}

/**
 * A policy of the sandbox's own, next to the core ones: data with any of `labels` may not be used for `action`. A
 * switched-off one is kept and checks nothing.
 */
export interface CustomPolicy extends Policy {
  id: string;
  action: string;
  enabled: boolean;
}

export const MAX_CUSTOM_POLICIES = 50;

/** The policies every activation is checked against. */
export const POLICIES: readonly Policy[] = [
  { name: 'No export of individual identifiers', action: null, labels: ['C1', 'C12'] },
  { name: 'Restrict export to third parties', action: 'Export to Third Party', labels: ['C2'] },
  {
    name: 'Restrict combining with directly identifiable data',
    action: 'Combine with directly identifiable data',
    labels: ['C3'],
  },
  { name: 'Restrict cross-site targeting', action: 'Cross Site Targeting', labels: ['C4', 'C5'] },
  { name: 'Restrict on-site advertising', action: 'Onsite Advertising', labels: ['C4', 'C6'] },
  { name: 'Restrict on-site personalization', action: 'Onsite Personalization', labels: ['C4', 'C7'] },
  { name: 'Restrict analytics', action: 'Analytics', labels: ['C8'] },
  { name: 'Restrict data science', action: 'Data Science', labels: ['C9'] },
  { name: 'Restrict stitched identities', action: 'Single Identity Personalization', labels: ['C10'] },
  { name: 'Restrict Segment Match', action: 'Segment Match', labels: ['C11'] },
];

const LABEL = /^[A-Za-z0-9_-]{1,50}$/;

/** Problems with a label list (shape only; unknown labels are custom ones): `{ index, reason }`. */
export function labelProblems(labels: readonly string[]): Array<{ index: number; reason: string }> {
  const problems: Array<{ index: number; reason: string }> = [];
  const seen = new Set<string>();
  labels.forEach((label, index) => {
    if (!LABEL.test(label)) problems.push({ index, reason: 'letters, digits, _ and - only (1–50)' });
    else if (seen.has(label.toUpperCase())) problems.push({ index, reason: `${label} is listed twice` });
    seen.add(label.toUpperCase());
  });
  return problems;
}

/** Labels as stored: upper case, each once, in the order given. */
export function normalizeLabels(labels: readonly string[]): string[] {
  return [...new Set(labels.map((l) => l.toUpperCase()))];
}

export interface PolicyViolation {
  segmentId: string;
  label: string;
  /** The destination's marketing action the label forbids; null for a policy on every activation. */
  action: string | null;
  policy: string;
  /** What is wrong and how to fix it, in one sentence. */
  reason: string;
}

/**
 * The policies an activation of `segments` to a destination used for `marketingActions` breaks: one violation per
 * (segment, label, action). Marketing actions are compared without case.
 *
 * @example
 * policyViolations(['Export to Third Party'], [{ id: 'seg-1', name: 'VIP', labels: ['C2'] }]);
 * // [{ segmentId: 'seg-1', label: 'C2', action: 'Export to Third Party', policy: 'Restrict export to third parties', reason: '…' }]
 */
export function policyViolations(
  marketingActions: readonly string[],
  segments: ReadonlyArray<{ id: string; name: string; labels: readonly string[] }>,
  /** The sandbox's own policies (switched-off ones are skipped). */
  custom: readonly CustomPolicy[] = [],
): PolicyViolation[] {
  return segments.flatMap((segment) =>
    forbidden(marketingActions, segment.labels, custom).map(({ label, action, policy, meaning }) => ({
      segmentId: segment.id,
      label,
      action,
      policy,
      reason:
        action === null
          ? `segment "${segment.name}" is labelled ${label} (${meaning}), and an activation to X sends each member's identifiers: remove the label if it no longer applies, or do not activate the segment`
          : `segment "${segment.name}" is labelled ${label} (${meaning}), which forbids "${action}", a marketing action of the destination: remove that action from the destination, remove the label if it no longer applies, or activate another segment`,
    })),
  );
}

/** Each (label, action) of `labels` that a policy forbids for a destination used for `marketingActions`. */
function forbidden(
  marketingActions: readonly string[],
  labels: readonly string[],
  custom: readonly CustomPolicy[],
): Array<{ label: string; action: string | null; policy: string; meaning: string }> {
  const actions = new Map(marketingActions.map((a) => [actionKey(a), a]));
  const held = new Set(labels.map((l) => l.toUpperCase()));
  const out: Array<{ label: string; action: string | null; policy: string; meaning: string }> = [];
  for (const policy of [...POLICIES, ...custom.filter((p) => p.enabled)]) {
    const action = policy.action === null ? null : actions.get(actionKey(policy.action));
    if (action === undefined) continue;
    for (const label of policy.labels) {
      if (!held.has(label)) continue;
      out.push({
        label,
        action,
        policy: policy.name,
        meaning: DATA_USAGE_LABELS[label] ?? 'a label of your own',
      });
    }
  }
  return out;
}

/**
 * Data-usage labels on a field a mapping can export: an identity namespace (matched without case) or an attribute
 * path (matched exactly). An activation whose mapping exports a labelled field is checked like a labelled segment.
 */
export interface FieldLabel {
  sourceType: 'namespace' | 'attribute';
  source: string;
  labels: string[];
}

export const MAX_FIELD_LABELS = 200;

export interface FieldLabelInput {
  sourceType: string;
  source: string;
  labels: readonly string[];
}

/** Identifies a field: namespaces without case, attribute paths as written. */
export function fieldKey(field: { sourceType: string; source: string }): string {
  const source = field.source.trim();
  return field.sourceType === 'namespace' ? `namespace:${source.toUpperCase()}` : `attribute:${source}`;
}

/** Checks the labelled fields as a whole and gives them their stored form; every problem is listed, with its path. */
export function checkFieldLabels(
  input: readonly FieldLabelInput[],
): { ok: true; fields: FieldLabel[] } | { ok: false; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  if (input.length > MAX_FIELD_LABELS)
    problems.push({ path: 'fields', reason: `at most ${MAX_FIELD_LABELS} labelled fields per sandbox` });
  const seen = new Set<string>();
  const fields = input.map((f, i): FieldLabel => {
    const at = `fields[${i}]`;
    const sourceType = f.sourceType === 'namespace' || f.sourceType === 'attribute' ? f.sourceType : null;
    if (sourceType === null)
      problems.push({
        path: `${at}.sourceType`,
        reason: 'namespace (an identity namespace) or attribute (a path)',
      });
    const source = f.source.trim();
    if (source === '' || source.length > 200)
      problems.push({ path: `${at}.source`, reason: 'name the namespace or attribute path (1–200)' });
    const key = fieldKey({ sourceType: sourceType ?? '', source });
    if (source !== '' && seen.has(key))
      problems.push({
        path: `${at}.source`,
        reason: `${source} is listed twice: give all its labels at once`,
      });
    seen.add(key);
    if (f.labels.length === 0) problems.push({ path: `${at}.labels`, reason: 'name at least one label' });
    for (const problem of labelProblems(f.labels))
      problems.push({ path: `${at}.labels[${problem.index}]`, reason: problem.reason });
    return { sourceType: sourceType ?? 'attribute', source, labels: normalizeLabels(f.labels) };
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, fields };
}

/** The labels of the fields a mapping exports (each once, upper case). */
export function mappingLabels(
  mapping: ReadonlyArray<{ sourceType: string; source: string }>,
  fields: readonly FieldLabel[],
): string[] {
  const labelsOf = new Map(fields.map((f) => [fieldKey(f), f.labels]));
  return normalizeLabels(mapping.flatMap((row) => labelsOf.get(fieldKey(row)) ?? []));
}

/** A policy a mapping row breaks by exporting a labelled field. */
export interface MappingViolation {
  /** The mapping row. */
  index: number;
  label: string;
  action: string | null;
  policy: string;
  reason: string;
}

/**
 * The policies an activation breaks through its mapping: one violation per (mapping row, label, action) whose source
 * field carries a label a policy forbids for the destination's marketing actions.
 *
 * @example
 * mappingPolicyViolations(['Cross Site Targeting'], [{ sourceType: 'namespace', source: 'Email' }],
 *   [{ sourceType: 'namespace', source: 'email', labels: ['C5'] }]);
 * // [{ index: 0, label: 'C5', action: 'Cross Site Targeting', policy: 'Restrict cross-site targeting', reason: '…' }]
 */
export function mappingPolicyViolations(
  marketingActions: readonly string[],
  mapping: ReadonlyArray<{ sourceType: string; source: string }>,
  fields: readonly FieldLabel[],
  custom: readonly CustomPolicy[] = [],
): MappingViolation[] {
  const labelsOf = new Map(fields.map((f) => [fieldKey(f), f.labels]));
  return mapping.flatMap((row, index) =>
    forbidden(marketingActions, labelsOf.get(fieldKey(row)) ?? [], custom).map(
      ({ label, action, policy, meaning }) => ({
        index,
        label,
        action,
        policy,
        reason:
          action === null
            ? `the mapping exports ${row.source}, labelled ${label} (${meaning}), and an activation to X sends each member's identifiers: remove the label if it no longer applies, or map another field`
            : `the mapping exports ${row.source}, labelled ${label} (${meaning}), which forbids "${action}", a marketing action of the destination: remove that action from the destination, remove the label if it no longer applies, or map another field`,
      }),
    ),
  );
}

export type CustomPolicyInput = Omit<CustomPolicy, 'id' | 'enabled' | 'labels'> & {
  id?: string | undefined;
  labels: readonly string[];
  enabled?: boolean | undefined;
};

/**
 * Checks the sandbox's own policies as a whole and gives them their stored form (labels upper case, ids made for new
 * ones, enabled by default). Every problem is listed, with its path.
 */
export function checkCustomPolicies(
  input: readonly CustomPolicyInput[],
  newId: () => string,
): { ok: true; policies: CustomPolicy[] } | { ok: false; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  if (input.length > MAX_CUSTOM_POLICIES)
    problems.push({
      path: 'policies',
      reason: `at most ${MAX_CUSTOM_POLICIES} policies of your own per sandbox`,
    });
  // Names of the core policies are taken too.
  const seen = { names: new Set(POLICIES.map((p) => p.name.toLowerCase())), ids: new Set<string>() };
  const policies = input.map((p, i): CustomPolicy => {
    const at = `policies[${i}]`;
    const { id, name } = checkPolicyNameAndId(
      p,
      at,
      seen,
      newId,
      problems,
      (n) => `"${n}" is already the name of a policy`,
    );
    const given = p.action.trim();
    const checkedAction = checkMarketingActions([given]);
    const action = checkedAction.actions[0] ?? given;
    if (given === '' || given.length > 100)
      problems.push({
        path: `${at}.action`,
        reason: 'name the marketing action the policy restricts (1–100)',
      });
    for (const problem of checkedAction.problems)
      problems.push({ path: `${at}.action`, reason: problem.reason });
    if (p.labels.length === 0) problems.push({ path: `${at}.labels`, reason: 'name at least one label' });
    for (const problem of labelProblems(p.labels))
      problems.push({ path: `${at}.labels[${problem.index}]`, reason: problem.reason });
    return { id, name, action, labels: normalizeLabels(p.labels), enabled: p.enabled ?? true };
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policies };
}
