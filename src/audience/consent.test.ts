import { describe, expect, it } from 'vitest';
import {
  checkConsentPolicies,
  consentRequirements,
  failedRequirement,
  parseStoredConsentPolicies,
  readConsents,
  type ConsentPolicy,
} from './consent.ts';
import { attributeValues } from './mapping.ts';

const policy = (over: Partial<ConsentPolicy> = {}): ConsentPolicy => ({
  id: 'cp_1',
  name: 'Ads need sharing consent',
  marketingActions: ['Cross Site Targeting'],
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
    expect(consentRequirements([policy()], [' cross site TARGETING'])).toEqual([
      { policyId: 'cp_1', attribute: 'consents.share.val', allowed: ['y'] },
    ]);
    expect(consentRequirements([policy()], ['Analytics'])).toEqual([]);
    expect(consentRequirements([policy({ enabled: false })], ['Cross Site Targeting'])).toEqual([]);
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
    const [requirement] = consentRequirements(
      [policy({ allowedValues: ['y', 'LI'] })],
      ['Cross Site Targeting'],
    );
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
      ['Cross Site Targeting'],
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
    expect(consentRequirements([policy()], ['Cross Site Targeting'])[0]).not.toHaveProperty('alternatives');
  });

  it('read from storage with no alternatives when stored before there were any', () => {
    const { alternatives, ...old } = policy();
    expect(alternatives).toEqual([]);
    expect(parseStoredConsentPolicies(JSON.stringify([old]))).toEqual([policy()]);
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
          attribute: 'consents.share.val',
          allowedValues: ['y', 'LI'],
          alternatives: [],
          enabled: true,
        },
        {
          id: 'cp_new1',
          name: 'Email',
          marketingActions: ['Email Targeting'],
          attribute: 'consents.marketing.email.val',
          allowedValues: ['y'],
          alternatives: [],
          enabled: false,
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
    ]);
  });
});
