import { describe, expect, it } from 'vitest';
import {
  checkCustomPolicies,
  checkFieldLabels,
  checkMarketingActions,
  coreActionSlip,
  labelProblems,
  mappingPolicyViolations,
  normalizeLabels,
  policyViolations,
  POLICIES,
} from './governance.ts';

const segment = (labels: string[]) => ({ id: 'seg-1', name: 'VIP', labels });

describe('policyViolations', () => {
  it('forbids a marketing action on data labelled against it, and nothing else', () => {
    const v = policyViolations(['Export to Third Party'], [segment(['C2'])]);
    expect(v).toEqual([
      {
        segmentId: 'seg-1',
        label: 'C2',
        action: 'Export to Third Party',
        policy: 'Restrict export to third parties',
        reason: expect.stringContaining('remove that action from the destination'),
      },
    ]);
    expect(policyViolations(['Analytics'], [segment(['C2'])])).toEqual([]);
    expect(policyViolations([], [segment(['C2', 'C4', 'I1', 'CUSTOM'])])).toEqual([]);
  });

  it('compares actions without case and labels in any case, and lists every breach', () => {
    const v = policyViolations(['cross site targeting', 'Onsite Advertising'], [segment(['c4', 'C5'])]);
    expect(v.map((x) => `${x.label}/${x.action}`)).toEqual([
      'C4/cross site targeting',
      'C5/cross site targeting',
      'C4/Onsite Advertising',
    ]);
  });

  it('refuses C1 and C12 for every activation to X, whatever the destination is used for', () => {
    for (const label of ['C1', 'C12']) {
      const v = policyViolations([], [segment([label])]);
      expect(v).toMatchObject([{ label, action: null, policy: 'No export of individual identifiers' }]);
    }
  });

  it('names a known label in every policy', () => {
    for (const policy of POLICIES) expect(policy.labels.length).toBeGreaterThan(0);
  });
});

describe('labels', () => {
  it('keeps labels upper case and once, and refuses malformed or repeated ones', () => {
    expect(normalizeLabels(['c2', 'C2', 'i1'])).toEqual(['C2', 'I1']);
    expect(labelProblems(['C2', 'no spaces', 'c2'])).toEqual([
      { index: 1, reason: expect.any(String) },
      { index: 2, reason: 'c2 is listed twice' },
    ]);
  });

  it("checks a sandbox's own policies with the core ones, skipping switched-off ones", () => {
    const checked = checkCustomPolicies(
      [
        { name: ' Scores stay in ', action: 'Data Science', labels: ['my-score'] },
        { id: 'dup_off', name: 'Off', action: 'Analytics', labels: ['C9'], enabled: false },
      ],
      () => 'dup_new',
    );
    expect(checked).toEqual({
      ok: true,
      policies: [
        {
          id: 'dup_new',
          name: 'Scores stay in',
          action: 'Data Science',
          labels: ['MY-SCORE'],
          enabled: true,
        },
        { id: 'dup_off', name: 'Off', action: 'Analytics', labels: ['C9'], enabled: false },
      ],
    });
    const own = checked.ok ? checked.policies : [];
    const segment = { id: 's', name: 'Scored', labels: ['my-score', 'C9'] };
    expect(policyViolations(['data science', 'Analytics'], [segment], own)).toEqual([
      expect.objectContaining({ policy: 'Restrict data science', label: 'C9', action: 'data science' }),
      expect.objectContaining({ policy: 'Scores stay in', label: 'MY-SCORE', action: 'data science' }),
    ]);
    const bad = checkCustomPolicies(
      [
        { name: 'Restrict Analytics', action: '', labels: [] },
        { id: 'x y', name: 'A', action: 'Analytics', labels: ['C 1'] },
      ],
      () => 'dup_x',
    );
    expect(bad.ok ? [] : bad.problems.map((p) => p.path)).toEqual([
      'policies[0].name',
      'policies[0].action',
      'policies[0].labels',
      'policies[1].id',
      'policies[1].labels[0]',
    ]);
  });

  it('checks labelled fields: namespaces without case, attribute paths as written, every problem listed', () => {
    expect(
      checkFieldLabels([
        { sourceType: 'namespace', source: ' Email ', labels: ['c5', 'i1'] },
        { sourceType: 'attribute', source: 'person.Email', labels: ['C9'] },
        { sourceType: 'attribute', source: 'person.email', labels: ['C9'] },
      ]),
    ).toEqual({
      ok: true,
      fields: [
        { sourceType: 'namespace', source: 'Email', labels: ['C5', 'I1'] },
        { sourceType: 'attribute', source: 'person.Email', labels: ['C9'] },
        { sourceType: 'attribute', source: 'person.email', labels: ['C9'] },
      ],
    });
    const bad = checkFieldLabels([
      { sourceType: 'namespace', source: 'EMAIL', labels: [] },
      { sourceType: 'namespace', source: 'email', labels: ['C 5'] },
      { sourceType: 'column', source: '', labels: ['C5'] },
    ]);
    expect(bad.ok ? [] : bad.problems.map((p) => p.path)).toEqual([
      'fields[0].labels',
      'fields[1].source',
      'fields[1].labels[0]',
      'fields[2].sourceType',
      'fields[2].source',
    ]);
  });

  it('finds the mapping rows that export a field labelled against the destination', () => {
    const fields = [
      { sourceType: 'namespace' as const, source: 'email', labels: ['C5'] },
      { sourceType: 'attribute' as const, source: 'loyalty.score', labels: ['MY-SCORE', 'C12'] },
    ];
    const mapping = [
      { sourceType: 'namespace', source: 'Phone_E.164' },
      { sourceType: 'namespace', source: 'EMAIL' },
      { sourceType: 'attribute', source: 'loyalty.score' },
      // An attribute named like the namespace is another field.
      { sourceType: 'attribute', source: 'email' },
    ];
    const custom = [
      {
        id: 'p',
        name: 'Scores stay out of targeting',
        action: 'Cross Site Targeting',
        labels: ['MY-SCORE'],
        enabled: true,
      },
    ];
    const found = mappingPolicyViolations(['cross site targeting'], mapping, fields, custom);
    expect(found.map((v) => [v.index, v.label, v.policy])).toEqual([
      [1, 'C5', 'Restrict cross-site targeting'],
      [2, 'C12', 'No export of individual identifiers'],
      [2, 'MY-SCORE', 'Scores stay out of targeting'],
    ]);
    expect(found[0]!.reason).toContain('the mapping exports EMAIL, labelled C5');
    expect(mappingPolicyViolations(['Analytics'], mapping.slice(0, 2), fields)).toEqual([]);
  });
});

describe('marketing actions', () => {
  it('names the core action a slip is of: one letter off', () => {
    expect(coreActionSlip('Exprot to Third Party')).toBe('Export to Third Party');
    expect(coreActionSlip('Export to third-partys')).toBe('Export to Third Party');
    expect(coreActionSlip('Onsite Personalisation')).toBe('Onsite Personalization');
    expect(coreActionSlip('Analytic')).toBe('Analytics');
    // The core action itself, in any case, spacing or punctuation, is no slip; nor is a custom action two letters or
    // more away.
    expect(coreActionSlip(' export to third party ')).toBeUndefined();
    expect(coreActionSlip('Export to third-party')).toBeUndefined();
    expect(coreActionSlip('Export  to Third Party.')).toBeUndefined();
    expect(coreActionSlip('Offsite Advertising')).toBeUndefined();
    expect(coreActionSlip('Email Retargeting')).toBeUndefined();
    expect(coreActionSlip('Loyalty Rewards')).toBeUndefined();
  });

  it('stores core actions in their spelling, each once, and refuses slips at their index', () => {
    expect(checkMarketingActions([' analytics', 'Loyalty Rewards', 'ANALYTICS'])).toEqual({
      actions: ['Analytics', 'Loyalty Rewards'],
      problems: [],
    });
    // Other separators are the core action's own spelling: stored as it.
    expect(checkMarketingActions(['Cross-Site Targeting', 'export to third-party'])).toEqual({
      actions: ['Cross Site Targeting', 'Export to Third Party'],
      problems: [],
    });
    const checked = checkMarketingActions(['Analytics', 'Cross-Site Targetting']);
    expect(checked.problems).toEqual([
      { index: 1, reason: expect.stringContaining('did you mean "Cross Site Targeting"?') },
    ]);
  });

  it("checks the action of the sandbox's own policies the same way", () => {
    const checked = checkCustomPolicies(
      [
        { name: 'Own', action: 'cross site targeting', labels: ['X1'] },
        { name: 'Slip', action: 'Data-Sceince', labels: ['X1'] },
      ],
      (() => {
        let n = 0;
        return () => `id-${(n += 1)}`;
      })(),
    );
    expect(checked).toEqual({
      ok: false,
      problems: [
        { path: 'policies[1].action', reason: expect.stringContaining('did you mean "Data Science"?') },
      ],
    });
    const own = checkCustomPolicies(
      [{ name: 'Own', action: 'cross site targeting', labels: ['X1'] }],
      () => 'a',
    );
    expect(own.ok && own.policies[0]!.action).toBe('Cross Site Targeting');
  });
});
