/** Labels and remedies for the preflight checklist, used when the service sends a check without its own wording. */
import type { PreflightCheck } from './api.ts';

export interface CheckInfo {
  label: string;
  fix: string;
}

export const PREFLIGHT_CHECKS: Record<string, CheckInfo> = {
  credentials: {
    label: 'Credentials accepted by X',
    fix: 'Log in with X again, or paste the consumer key/secret and access token/secret of an app approved for the Ads API. Tokens created before the app was approved must be regenerated.',
  },
  audience_api: {
    label: 'App may use the Audience API',
    fix: "X lets only allowlisted apps use custom audiences. Request Ads API access with Custom Audiences for the app in X's developer portal (or use an app that has it), then run the checks again.",
  },
  account_access: {
    label: 'Access to the ads account',
    fix: 'Check the Account ID in your X Ads account settings, and that the authorized user has been added to that ads account.',
  },
  partner_audience_manager: {
    label: 'Partner Audience Manager permission',
    fix: 'An account administrator grants the Partner Audience Manager permission to the authorized user under multi-user access at ads.x.com (Account Admin also works).',
  },
  permissions: {
    label: 'Partner Audience Manager permission',
    fix: 'An account administrator grants the Partner Audience Manager permission to the authorized user under multi-user access at ads.x.com (Account Admin also works).',
  },
  approval_status: {
    label: 'Ads account approved',
    fix: 'The ads account must be approved for advertising (approval status ACCEPTED). Complete the profile and check the account status at ads.x.com.',
  },
  account_age: {
    label: 'Ads account older than 14 days',
    fix: 'X may refuse audiences for accounts in their first weeks; wait until the account is 14 days old, then run the checks again.',
  },
  eligibility: {
    label: 'Account eligible for advertising',
    fix: 'The ads account must be approved for advertising; new accounts can be ineligible for their first weeks. Complete the profile and check the account status at ads.x.com.',
  },
};

export const PREFLIGHT_ORDER = [
  'credentials',
  'audience_api',
  'account_access',
  'permissions',
  'partner_audience_manager',
  'approval_status',
  'account_age',
  'eligibility',
];

export function checkLabel(check: PreflightCheck): string {
  return check.label ?? PREFLIGHT_CHECKS[check.id]?.label ?? check.id;
}

/** The remedy shown under a failed check: the service's own advice first, then the console's. */
export function checkFix(check: PreflightCheck): string | null {
  if (check.status !== 'fail') return null;
  return check.fix ?? PREFLIGHT_CHECKS[check.id]?.fix ?? null;
}

/** Known checks first, in the order a user fixes them, then anything else the service added. */
export function orderChecks(checks: readonly PreflightCheck[]): PreflightCheck[] {
  const rank = (id: string) => {
    const i = PREFLIGHT_ORDER.indexOf(id);
    return i === -1 ? PREFLIGHT_ORDER.length : i;
  };
  return [...checks].sort((a, b) => rank(a.id) - rank(b.id));
}

/** AEP's built-in marketing actions; the destination stores the chosen ones for policy enforcement. */
export { MARKETING_ACTIONS } from '../../src/audience/governance.ts';
