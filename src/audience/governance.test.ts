import { describe, expect, it } from 'vitest';
import {
  checkCustomPolicies,
  labelProblems,
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
});
