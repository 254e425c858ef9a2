import { describe, expect, it } from 'vitest';
import type { PreflightCheck } from './api.ts';
import { checkFix, orderChecks } from './preflight.ts';

const check = (id: string, status: PreflightCheck['status'], fix: string | null = null): PreflightCheck => ({
  id,
  label: id,
  status,
  message: '',
  fix,
});

describe('preflight checklist', () => {
  it('orders checks as a user fixes them, unknown ones last', () => {
    const ordered = orderChecks([
      check('eligibility', 'pass'),
      check('custom', 'pass'),
      check('partner_audience_manager', 'fail'),
      check('credentials', 'pass'),
    ]);
    expect(ordered.map((c) => c.id)).toEqual([
      'credentials',
      'partner_audience_manager',
      'eligibility',
      'custom',
    ]);
  });

  it("shows the service's remedy first, the console's otherwise, and none for passed checks", () => {
    expect(checkFix(check('account_access', 'fail', 'Use account 18ce54d4x5t'))).toBe(
      'Use account 18ce54d4x5t',
    );
    expect(checkFix(check('partner_audience_manager', 'fail'))).toMatch(/Partner Audience Manager/);
    expect(checkFix(check('credentials', 'pass', 'ignored'))).toBeNull();
    expect(checkFix(check('custom', 'fail'))).toBeNull();
  });
});
