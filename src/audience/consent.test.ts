import { describe, expect, it } from 'vitest';
import {
  checkConsentPolicies,
  consentRequirements,
  failedRequirement,
  parseStoredConsentPolicies,
  policyApplies,
  readConsents,
  type ConsentPolicy,
} from './consent.ts';
import { attributeValues } from './mapping.ts';

const policy = (over: Partial<ConsentPolicy> = {}): ConsentPolicy => ({
  id: 'cp_1',
  name: 'Ads need sharing consent',
  marketingActions: ['Cross Site Targeting'],
  labels: [],
  operator: 'and',
  attribute: 'consents.share.val',
  allowedValues: ['y'],
  alternatives: [],
  enabled: true,
  ...over,
});

const read = (profile: Record<string, unknown>) =>
  readConsents({ segmentMembership: {}, identityMap: {}, attributes: {}, ...profile }, attributeValues);

describe('consent policies', () => {
  it('apply to destinations with one of their marketing actions, when enabled', () => {
    expect(consentRequirements([policy()], { marketingActions: [' cross site TARGETING'] })).toEqual([
      { policyId: 'cp_1', attribute: 'consents.share.val', allowed: ['y'] },
    ]);
    expect(consentRequirements([policy()], { marketingActions: ['Analytics'] })).toEqual([]);
    expect(
      consentRequirements([policy({ enabled: false })], { marketingActions: ['Cross Site Targeting'] }),
    ).toEqual([]);
  });

  it('read consent flat, nested, wrapped or in raw XDM, and nothing from a profile without it', () => {
    expect(read({ attributes: { 'consents.share.val': ' Y ' } })).toEqual([
      ['consent:consents.share.val', ['y']],
    ]);
    expect(read({ attributes: { consents: { adID: { val: 'n' } } } })).toEqual([
      ['consent:consents.adID.val', ['n']],
    ]);
    expect(read({ attributes: { 'consents.collect.val': { value: 'LI' } } })).toEqual([
      ['consent:consents.collect.val', ['li']],
    ]);
    expect(read({ consents: { marketing: { email: { val: 'dy' } } } })).toEqual([
      ['consent:consents.marketing.email.val', ['dy']],
    ]);
    expect(read({ attributes: { loyalty: 'gold' } })).toEqual([]);
  });

  it('fail a profile whose value is absent or not allowed', () => {
    const [requirement] = consentRequirements([policy({ allowedValues: ['y', 'LI'] })], {
      marketingActions: ['Cross Site Targeting'],
    });
    expect(failedRequirement([requirement!], { 'consent:consents.share.val': ['li'] })).toBeNull();
    expect(failedRequirement([requirement!], { 'consent:consents.share.val': ['n'] })).toBe(requirement);
    expect(failedRequirement([requirement!], {})).toBe(requirement);
  });

  it('pass a profile when the condition or any alternative holds', () => {
    const [requirement] = consentRequirements(
      [
        policy({
          attribute: 'consents.marketing.email.val',
          alternatives: [
            { attribute: 'consents.marketing.any.val', allowedValues: ['y', 'LI'] },
            { attribute: 'consents.share.val', allowedValues: ['dy'] },
          ],
        }),
      ],
      { marketingActions: ['Cross Site Targeting'] },
    );
    expect(requirement!.alternatives).toEqual([
      { attribute: 'consents.marketing.any.val', allowed: ['y', 'li'] },
      { attribute: 'consents.share.val', allowed: ['dy'] },
    ]);
    const fails = (values: Record<string, string[]>) => failedRequirement([requirement!], values) !== null;
    expect(fails({ 'consent:consents.marketing.email.val': ['y'] })).toBe(false);
    expect(
      fails({ 'consent:consents.marketing.email.val': ['n'], 'consent:consents.marketing.any.val': ['li'] }),
    ).toBe(false);
    expect(fails({ 'consent:consents.share.val': ['dy'] })).toBe(false);
    expect(
      fails({ 'consent:consents.marketing.email.val': ['n'], 'consent:consents.share.val': ['y'] }),
    ).toBe(true);
    expect(fails({})).toBe(true);
    // A policy without alternatives adds none to its requirement.
    expect(
      consentRequirements([policy()], { marketingActions: ['Cross Site Targeting'] })[0],
    ).not.toHaveProperty('alternatives');
  });

  it('read from storage with no alternatives, labels or operator when stored before there were any', () => {
    const { alternatives, labels, operator, ...old } = policy();
    expect([alternatives, labels, operator]).toEqual([[], [], 'and']);
    expect(parseStoredConsentPolicies(JSON.stringify([old]))).toEqual([policy()]);
  });

  it('apply through data-usage labels, alone or joined to marketing actions by and / or', () => {
    const email = { marketingActions: ['Email Targeting'] };
    const labelled = (labels: string[]) => ({ ...email, labels });
    const onLabels = policy({ marketingActions: [], labels: ['C5', 'C9'] });
    expect(policyApplies(onLabels, labelled(['c9']))).toBe(true);
    expect(policyApplies(onLabels, labelled(['C2']))).toBe(false);
    expect(policyApplies(onLabels, email)).toBe(false);
    const both = policy({ marketingActions: ['Email Targeting'], labels: ['C5'] });
    expect(policyApplies(both, labelled(['C5']))).toBe(true);
    expect(policyApplies(both, email)).toBe(false);
    expect(policyApplies(both, { marketingActions: ['Analytics'], labels: ['C5'] })).toBe(false);
    const either = { ...both, operator: 'or' as const };
    expect(policyApplies(either, email)).toBe(true);
    expect(policyApplies(either, { marketingActions: ['Analytics'], labels: ['c5'] })).toBe(true);
    expect(policyApplies(either, { marketingActions: ['Analytics'], labels: ['C2'] })).toBe(false);
    expect(consentRequirements([onLabels, policy({ id: 'cp_2' })], labelled(['C5']))).toEqual([
      { policyId: 'cp_1', attribute: 'consents.share.val', allowed: ['y'] },
    ]);
  });

  it('check their alternatives like their condition', () => {
    const checked = checkConsentPolicies(
      [
        {
          name: 'Email',
          marketingActions: ['Email Targeting'],
          attribute: 'consents.marketing.email.val',
          alternatives: [
            { attribute: 'CONSENTS.MARKETING.ANY.VAL' },
            { attribute: 'consents.share.val', allowedValues: ['DY', 'y'] },
          ],
        },
      ],
      () => 'cp_1',
    );
    expect(checked).toEqual({
      ok: true,
      policies: [
        expect.objectContaining({
          alternatives: [
            { attribute: 'consents.marketing.any.val', allowedValues: ['y'] },
            { attribute: 'consents.share.val', allowedValues: ['dy', 'y'] },
          ],
        }),
      ],
    });
    const bad = checkConsentPolicies(
      [
        {
          name: 'Email',
          marketingActions: ['Email Targeting'],
          attribute: 'consents.marketing.email.val',
          alternatives: [
            { attribute: 'consents.marketing.any' },
            { attribute: 'consents.share.val', allowedValues: ['maybe'] },
            ...Array.from({ length: 4 }, () => ({ attribute: 'consents.share.val', allowedValues: [] })),
          ],
        },
      ],
      () => 'cp_1',
    );
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map((p) => p.path)).toEqual([
      'policies[0].alternatives',
      'policies[0].alternatives[0].attribute',
      'policies[0].alternatives[1].allowedValues[0]',
      'policies[0].alternatives[2].allowedValues',
      'policies[0].alternatives[3].allowedValues',
      'policies[0].alternatives[4].allowedValues',
      'policies[0].alternatives[5].allowedValues',
    ]);
  });

  it('are checked whole: canonical values, defaults, ids kept or made, every problem listed', () => {
    let n = 0;
    const ok = checkConsentPolicies(
      [
        {
          id: 'cp_keep',
          name: ' Ads ',
          marketingActions: ['Cross Site Targeting', ''],
          attribute: 'CONSENTS.SHARE.VAL',
          allowedValues: ['Y', 'li', 'y'],
        },
        {
          name: 'Email',
          marketingActions: ['Email Targeting'],
          attribute: 'consents.marketing.email.val',
          enabled: false,
        },
        { name: 'Health data', labels: ['c9'], operator: 'OR', attribute: 'consents.share.val' },
      ],
      () => `cp_new${(n += 1)}`,
    );
    expect(ok).toEqual({
      ok: true,
      policies: [
        {
          id: 'cp_keep',
          name: 'Ads',
          marketingActions: ['Cross Site Targeting'],
          labels: [],
          operator: 'and',
          attribute: 'consents.share.val',
          allowedValues: ['y', 'LI'],
          alternatives: [],
          enabled: true,
        },
        {
          id: 'cp_new1',
          name: 'Email',
          marketingActions: ['Email Targeting'],
          labels: [],
          operator: 'and',
          attribute: 'consents.marketing.email.val',
          allowedValues: ['y'],
          alternatives: [],
          enabled: false,
        },
        {
          id: 'cp_new2',
          name: 'Health data',
          marketingActions: [],
          labels: ['C9'],
          operator: 'or',
          attribute: 'consents.share.val',
          allowedValues: ['y'],
          alternatives: [],
          enabled: true,
        },
      ],
    });
    const bad = checkConsentPolicies(
      [
        { id: 'bad id', name: 'A', marketingActions: [' '], attribute: 'consents.share', allowedValues: [] },
        {
          name: 'a',
          marketingActions: ['Analytics'],
          attribute: 'consents.collect.val',
          allowedValues: ['yes'],
        },
        {
          id: 'cp_b',
          name: 'b',
          labels: ['C9', 'c9', 'x!'],
          operator: 'xor',
          attribute: 'consents.share.val',
        },
      ],
      () => 'cp_x',
    );
    expect(bad.ok ? [] : bad.problems.map((p) => p.path)).toEqual([
      'policies[0].id',
      'policies[0].marketingActions',
      'policies[0].attribute',
      'policies[0].allowedValues',
      'policies[1].name',
      'policies[1].allowedValues[0]',
      'policies[2].labels[1]',
      'policies[2].labels[2]',
      'policies[2].operator',
    ]);
  });
});
