import type { ProfileExport } from '../profile/index.ts';
import { actionKey, checkMarketingActions, labelProblems, normalizeLabels } from './governance.ts';
import { checkPolicyNameAndId, type PolicyProblem } from './policy-checks.ts';

/**
 * Consent policies: "if the destination is used for one of these marketing actions (and/or the activation exports data
 * carrying one of these data-usage labels), then a profile is exported only when this consent attribute has one of
 * these values" (or, when the policy lists alternatives, one of them holds). An activation's labels are its segment's
 * and those of the fields its mapping exports, so a policy on labels can apply to one audience of a dataflow and not
 * to another.
 * A profile must pass every policy that applies: policies combine with AND, a policy's alternatives with OR. A profile
 * that fails a policy is left out of the activation (`consent_denied`), and a member who withdraws consent is
 * removed from the X audience.
 *
 * The attributes are the XDM Consents and Preferences fields. A profile's values of all of them are kept with its state
 * (they are not identifiers), so a policy added or changed later applies to every profile already known.
 */
export const CONSENT_ATTRIBUTES = [
  'consents.collect.val',
  'consents.share.val',
  'consents.personalize.content.val',
  'consents.marketing.any.val',
  'consents.marketing.email.val',
  'consents.marketing.push.val',
  'consents.marketing.sms.val',
  'consents.marketing.call.val',
  'consents.marketing.whatsApp.val',
  'consents.marketing.postalMail.val',
  'consents.marketing.commercialEmail.val',
  'consents.marketing.fax.val',
  'consents.adID.val',
] as const;
export type ConsentAttribute = (typeof CONSENT_ATTRIBUTES)[number];

/**
 * XDM consent values: y(es), n(o), p(ending), u(nknown), dy / dn (default yes / no), and the legal bases LI
 * (legitimate interest), CT (contract), CP (compliance), VI (vital interest), PI (public interest).
 */
export const CONSENT_VALUES = ['y', 'n', 'p', 'u', 'dy', 'dn', 'LI', 'CT', 'CP', 'VI', 'PI'] as const;
export type ConsentValue = (typeof CONSENT_VALUES)[number];

export interface ConsentPolicy {
  id: string;
  name: string;
  /** The policy applies to a dataflow whose destination has any of these marketing actions (case-insensitive). */
  marketingActions: string[];
  /**
   * Data-usage labels (upper case): the policy applies to an activation whose segment, or a field its mapping
   * exports, carries any of them. Policies stored before labels existed are read with none.
   */
  labels: string[];
  /**
   * How the two conditions combine when the policy has both: `and` (the destination's actions and the activation's
   * labels must both match) or `or` (either does). A policy with one kind of condition uses that one alone.
   */
  operator: ConsentOperator;
  attribute: ConsentAttribute;
  /** A profile is exported only when the attribute holds one of these values; absent counts as no consent. */
  allowedValues: ConsentValue[];
  /**
   * Other conditions, any of which also lets a profile through (OR): e.g. email consent, or else consent to all
   * marketing. Policies stored before alternatives existed are read with none (`parseStoredConsentPolicies`).
   */
  alternatives: ConsentCondition[];
  /** A disabled policy is kept but restricts nothing. */
  enabled: boolean;
}

export const CONSENT_OPERATORS = ['and', 'or'] as const;
export type ConsentOperator = (typeof CONSENT_OPERATORS)[number];

/** At most this many labels in a policy's condition. */
export const MAX_CONSENT_LABELS = 20;

/** A consent attribute and the values that satisfy it. */
export interface ConsentCondition {
  attribute: ConsentAttribute;
  allowedValues: ConsentValue[];
}

/** At most this many alternatives per policy. */
export const MAX_CONSENT_ALTERNATIVES = 5;

/** What a dataflow demands of a profile: one entry per enabled policy that applies to its destination. */
export interface ConsentRequirement {
  policyId: string;
  attribute: string;
  /** Lower case. */
  allowed: string[];
  /** Conditions any of which also satisfies the requirement; absent when the policy has none. */
  alternatives?: Array<{ attribute: string; allowed: string[] }>;
}

/**
 * Policies as the sandbox row stores them (JSON), in their canonical form: `alternatives`, `labels` and `operator`
 * always present.
 */
export function parseStoredConsentPolicies(json: string): ConsentPolicy[] {
  type Stored = Omit<ConsentPolicy, 'alternatives' | 'labels' | 'operator'> & Partial<ConsentPolicy>;
  return (JSON.parse(json) as Stored[]).map((p) => ({
    ...p,
    labels: p.labels ?? [],
    operator: p.operator ?? 'and',
    alternatives: p.alternatives ?? [],
  }));
}

/** What decides whether a policy applies: the destination's marketing actions and the activation's labels. */
export interface ConsentScope {
  marketingActions: readonly string[];
  /** The activation's data-usage labels: its segment's and its mapped fields' (any case). */
  labels?: readonly string[];
}

/**
 * Whether a policy's condition holds for an activation (switched-off policies included: see `enabled`). Actions are
 * compared without case, labels as upper case.
 *
 * @example
 * policyApplies({ marketingActions: ['Email Targeting'], labels: ['C5'], operator: 'and', … },
 *   { marketingActions: ['email targeting'], labels: ['c5'] }); // true
 */
export function policyApplies(
  policy: Pick<ConsentPolicy, 'marketingActions' | 'labels' | 'operator'>,
  scope: ConsentScope,
): boolean {
  const actions = new Set(scope.marketingActions.map(actionKey));
  const labels = new Set((scope.labels ?? []).map((l) => l.toUpperCase()));
  const byAction = policy.marketingActions.some((a) => actions.has(actionKey(a)));
  const byLabel = policy.labels.some((l) => labels.has(l.toUpperCase()));
  if (policy.labels.length === 0) return byAction;
  if (policy.marketingActions.length === 0) return byLabel;
  return policy.operator === 'or' ? byAction || byLabel : byAction && byLabel;
}

/** The requirement a policy puts on a profile. */
export function requirementOf(policy: ConsentPolicy): ConsentRequirement {
  const lower = (values: readonly string[]) => values.map((v) => v.toLowerCase());
  const alternatives = policy.alternatives.map((c) => ({
    attribute: c.attribute,
    allowed: lower(c.allowedValues),
  }));
  return {
    policyId: policy.id,
    attribute: policy.attribute,
    allowed: lower(policy.allowedValues),
    ...(alternatives.length > 0 ? { alternatives } : {}),
  };
}

/** Stored profile values keep consent under this prefix, next to the mapping rows' values. */
export const CONSENT_KEY_PREFIX = 'consent:';

export const MAX_CONSENT_POLICIES = 50;

/**
 * The requirements the enabled policies put on an activation to a destination used for `marketingActions`, whose
 * segment and mapped fields carry `labels`.
 *
 * @example
 * consentRequirements([{ id: 'cp_1', name: 'Ads need sharing consent', marketingActions: ['Cross Site Targeting'],
 *   labels: [], operator: 'and', attribute: 'consents.share.val', allowedValues: ['y'], alternatives: [],
 *   enabled: true }], { marketingActions: ['cross site targeting'] });
 * // [{ policyId: 'cp_1', attribute: 'consents.share.val', allowed: ['y'] }]
 */
export function consentRequirements(
  policies: readonly ConsentPolicy[],
  scope: ConsentScope,
): ConsentRequirement[] {
  return policies.filter((p) => p.enabled && policyApplies(p, scope)).map(requirementOf);
}

/**
 * The consent values a profile export carries, as stored values (`consent:<attribute>` → [value, lower case]); empty
 * for a profile that says nothing about consent. Attributes may be flat (`"consents.share.val": "y"`), nested, or
 * freeform `{ value }`, as any mapped attribute: `valuesAt` reads a path as mapping does (`attributeValues`).
 */
export function readConsents(
  profile: ProfileExport,
  valuesAt: (profile: ProfileExport, path: string) => unknown[],
): Array<[key: string, values: string[]]> {
  if (!mentionsConsent(profile)) return [];
  const out: Array<[string, string[]]> = [];
  for (const attribute of CONSENT_ATTRIBUTES) {
    const value = valuesAt(profile, attribute).find((v): v is string => typeof v === 'string');
    if (value !== undefined && value.trim() !== '')
      out.push([`${CONSENT_KEY_PREFIX}${attribute}`, [value.trim().toLowerCase()]]);
  }
  return out;
}

/** Cheap test first: most exports carry no consent at all. */
function mentionsConsent(profile: ProfileExport): boolean {
  if (Object.hasOwn(profile, 'consents')) return true;
  for (const key in profile.attributes ?? {}) if (key.startsWith('consents')) return true;
  return false;
}

/**
 * The first requirement stored values fail (absent = no consent), or null when all hold. A requirement holds when its
 * own condition or any of its alternatives does.
 */
export function failedRequirement(
  requirements: readonly ConsentRequirement[],
  values: Readonly<Record<string, readonly string[] | undefined>>,
): ConsentRequirement | null {
  const holds = (condition: { attribute: string; allowed: readonly string[] }) => {
    const value = values[`${CONSENT_KEY_PREFIX}${condition.attribute}`]?.[0];
    return value !== undefined && condition.allowed.includes(value);
  };
  for (const requirement of requirements) {
    if (!holds(requirement) && !(requirement.alternatives?.some(holds) ?? false)) return requirement;
  }
  return null;
}

/** A condition as given: any case, values defaulting to `y`. */
export interface ConsentConditionInput {
  attribute: string;
  allowedValues?: string[] | undefined;
}

export type ConsentPolicyInput = Pick<ConsentPolicy, 'name'> &
  ConsentConditionInput & {
    id?: string | undefined;
    /** Default none; a policy needs at least one marketing action or label. */
    marketingActions?: string[] | undefined;
    labels?: string[] | undefined;
    /** Default `and`. */
    operator?: string | undefined;
    alternatives?: ConsentConditionInput[] | undefined;
    enabled?: boolean | undefined;
  };

/** A condition in its canonical form (attribute and values as XDM spells them), its problems added to `problems`. */
function checkCondition(
  input: ConsentConditionInput,
  at: string,
  problems: PolicyProblem[],
): ConsentCondition {
  const attribute = CONSENT_ATTRIBUTES.find((a) => a.toLowerCase() === input.attribute.trim().toLowerCase());
  if (!attribute)
    problems.push({
      path: `${at}.attribute`,
      reason: `"${input.attribute}" is not a consent attribute; use one of ${CONSENT_ATTRIBUTES.join(', ')}`,
    });
  const allowedValues: ConsentValue[] = [];
  (input.allowedValues ?? ['y']).forEach((value, j) => {
    const known = CONSENT_VALUES.find((v) => v.toLowerCase() === value.trim().toLowerCase());
    if (known) {
      if (!allowedValues.includes(known)) allowedValues.push(known);
    } else
      problems.push({
        path: `${at}.allowedValues[${j}]`,
        reason: `"${value}" is not an XDM consent value; use ${CONSENT_VALUES.join(', ')}`,
      });
  });
  if (input.allowedValues !== undefined && input.allowedValues.length === 0)
    problems.push({ path: `${at}.allowedValues`, reason: 'allow at least one value (y, say)' });
  return { attribute: attribute ?? 'consents.share.val', allowedValues };
}

/**
 * Checks a full set of policies and gives them their canonical form (values as XDM spells them, ids made for new
 * ones). Every problem is listed, with its path.
 */
export function checkConsentPolicies(
  input: readonly ConsentPolicyInput[],
  newId: () => string,
): { ok: true; policies: ConsentPolicy[] } | { ok: false; problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  if (input.length > MAX_CONSENT_POLICIES)
    problems.push({
      path: 'policies',
      reason: `at most ${MAX_CONSENT_POLICIES} consent policies per sandbox`,
    });
  const seen = { names: new Set<string>(), ids: new Set<string>() };
  const policies = input.map((p, i): ConsentPolicy => {
    const at = `policies[${i}]`;
    const { id, name } = checkPolicyNameAndId(p, at, seen, newId, problems, (n) => `"${n}" is used twice`);
    // Core actions in their spelling; a slip of one (`Email targetting`) would never match a destination's.
    const checkedActions = checkMarketingActions((p.marketingActions ?? []).map((a) => a.trim()));
    for (const problem of checkedActions.problems)
      problems.push({ path: `${at}.marketingActions[${problem.index}]`, reason: problem.reason });
    const actions = checkedActions.actions.filter((a) => a !== '');
    const labelsIn = p.labels ?? [];
    for (const problem of labelProblems(labelsIn))
      problems.push({ path: `${at}.labels[${problem.index}]`, reason: problem.reason });
    if (labelsIn.length > MAX_CONSENT_LABELS)
      problems.push({ path: `${at}.labels`, reason: `at most ${MAX_CONSENT_LABELS} labels per policy` });
    const labels = normalizeLabels(labelsIn);
    if (actions.length === 0 && labels.length === 0)
      problems.push({
        path: `${at}.marketingActions`,
        reason: 'name at least one marketing action or data-usage label the policy applies to',
      });
    const operator = CONSENT_OPERATORS.find((o) => o === (p.operator ?? 'and').trim().toLowerCase());
    if (!operator)
      problems.push({
        path: `${at}.operator`,
        reason: 'and (both the marketing actions and the labels must match) or or (either one)',
      });
    const { attribute, allowedValues } = checkCondition(p, at, problems);
    const alternativesIn = p.alternatives ?? [];
    if (alternativesIn.length > MAX_CONSENT_ALTERNATIVES)
      problems.push({
        path: `${at}.alternatives`,
        reason: `at most ${MAX_CONSENT_ALTERNATIVES} alternatives per policy`,
      });
    const alternatives = alternativesIn.map((c, j) =>
      checkCondition(c, `${at}.alternatives[${j}]`, problems),
    );
    return {
      id,
      name,
      marketingActions: actions,
      labels,
      operator: operator ?? 'and',
      attribute,
      allowedValues,
      alternatives,
      enabled: p.enabled ?? true,
    };
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policies };
}
