import { describe, expect, it } from 'vitest';
import {
  checkConsentPolicies,
  consentRequirements,
  failedRequirement,
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
          enabled: true,
        },
        {
          id: 'cp_new1',
          name: 'Email',
          marketingActions: ['Email Targeting'],
          attribute: 'consents.marketing.email.val',
          allowedValues: ['y'],
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
