/**
 * Preflight checklist for an ads account, built on two reads: `GET accounts/:id` and
 * `GET accounts/:id/authenticated_user_access`.
 */
import { AuthError, isXAdsError, NotFoundError, PermissionError } from './errors.ts';
import type { AuthenticatedUserAccess, XAccount } from './types.ts';

export type VerifyCheckId =
  'credentials' | 'account_access' | 'approval_status' | 'account_age' | 'permissions';
export type VerifyStatus = 'pass' | 'fail' | 'warn' | 'skipped';

export interface VerifyCheck {
  id: VerifyCheckId;
  /** What is checked, for display. */
  label: string;
  status: VerifyStatus;
  /** What was found and, when not passing, what to do. */
  message: string;
  /** X's error code when a request failed. */
  xCode?: string;
}

export interface VerifyResult {
  accountId: string;
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  checks: VerifyCheck[];
  account?: XAccount;
  access?: AuthenticatedUserAccess;
}

/** The reads `verifyAccount` needs; `XAdsClient` provides them. */
export interface VerifySource {
  getAccount(accountId: string, options?: { signal?: AbortSignal }): Promise<XAccount>;
  getAuthenticatedUserAccess(
    accountId: string,
    options?: { signal?: AbortSignal },
  ): Promise<AuthenticatedUserAccess>;
}

const LABELS: Record<VerifyCheckId, string> = {
  credentials: 'Credentials are valid',
  account_access: 'The ads account is accessible',
  approval_status: 'The ads account is approved (approval_status ACCEPTED)',
  account_age: 'The ads account is older than 14 days',
  permissions: 'The user may manage partner audiences',
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** Permissions that allow audience uploads. AD_MANAGER probably does too, but X does not say so. */
const SUFFICIENT = ['PARTNER_AUDIENCE_MANAGER', 'ACCOUNT_ADMIN'];
const GRANT_HINT =
  'Audience uploads need the Partner Audience Manager permission (PARTNER_AUDIENCE_MANAGER) or Account Administrator. ' +
  'An administrator of the ads account grants it at ads.x.com: account menu → "Edit access to account" (multi-user access) → add or edit the user → select Partner Audience Manager.';

function errorText(error: unknown): { message: string; xCode?: string } {
  if (isXAdsError(error)) {
    return {
      message: `${error.message}${error.hint ? `. ${error.hint}` : ''}`,
      ...(error.xCode === undefined ? {} : { xCode: error.xCode }),
    };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

/**
 * Runs the preflight checklist. Checks that depend on a failed one are `skipped`, not failed.
 *
 * @example
 * const result = await verifyAccount(client, '18ce54d4x5t', { now: Date.now() });
 * result.checks.find((c) => c.id === 'permissions')?.status; // 'pass' | 'fail' | 'warn' | 'skipped'
 */
export async function verifyAccount(
  source: VerifySource,
  accountId: string,
  options: { now: number; signal?: AbortSignal },
): Promise<VerifyResult> {
  const checks = new Map<VerifyCheckId, VerifyCheck>();
  const set = (id: VerifyCheckId, status: VerifyStatus, message: string, xCode?: string) =>
    checks.set(id, { id, label: LABELS[id], status, message, ...(xCode === undefined ? {} : { xCode }) });
  const skipRest = (reason: string) => {
    for (const id of Object.keys(LABELS) as VerifyCheckId[]) if (!checks.has(id)) set(id, 'skipped', reason);
  };
  const signal = options.signal ? { signal: options.signal } : {};
  const result: VerifyResult = { accountId, ok: false, checks: [] };

  let account: XAccount | undefined;
  try {
    account = await source.getAccount(accountId, signal);
    result.account = account;
    set('credentials', 'pass', 'X accepted the OAuth credentials.');
    set(
      'account_access',
      'pass',
      `The user can read ads account ${account.id}${account.name ? ` ("${account.name}")` : ''}.`,
    );
  } catch (error) {
    const { message, xCode } = errorText(error);
    if (error instanceof AuthError) {
      // The error's own hint also says to re-authorize: say it once, with the ways to do it.
      set(
        'credentials',
        'fail',
        `X refused the credentials (bad signature, revoked token, or keys of another app): ${error.message}. Re-authorize the destination (log in with X again or paste fresh tokens).`,
        xCode,
      );
      skipRest('Skipped: the credentials were refused.');
    } else if (
      error instanceof PermissionError &&
      (xCode === 'UNAUTHORIZED_CLIENT_APPLICATION' || xCode === 'READONLY_CLIENT_APPLICATION')
    ) {
      set('credentials', 'fail', `The app cannot use this API: ${message}`, xCode);
      skipRest('Skipped: the app does not have Ads API access.');
    } else if (error instanceof PermissionError || error instanceof NotFoundError) {
      set('credentials', 'pass', 'X accepted the OAuth credentials.');
      set(
        'account_access',
        'fail',
        `Ads account ${accountId} is not accessible to this user: ${error.message}. Check the account id (ads.x.com shows it in the URL) or ask an account administrator to add the user.`,
        xCode,
      );
      skipRest('Skipped: the ads account is not accessible.');
    } else {
      set('credentials', 'fail', `Could not check the credentials: ${message} Try again later.`, xCode);
      skipRest('Skipped: X could not be reached.');
    }
  }

  if (account) {
    if (account.approvalStatus === 'ACCEPTED') set('approval_status', 'pass', 'approval_status is ACCEPTED.');
    else if (account.approvalStatus === null) {
      set(
        'approval_status',
        'warn',
        'X did not report an approval_status for the account; check it at ads.x.com.',
      );
    } else {
      set(
        'approval_status',
        'fail',
        `approval_status is ${account.approvalStatus}, not ACCEPTED: X has not approved this ads account. Complete the account setup (payment method, review) at ads.x.com and wait for approval.`,
      );
    }

    if (account.createdAt === null) {
      set(
        'account_age',
        'warn',
        'X did not report when the account was created; its age could not be checked.',
      );
    } else {
      const ageDays = Math.floor((options.now - account.createdAt) / DAY_MS);
      if (options.now - account.createdAt >= 14 * DAY_MS) {
        set('account_age', 'pass', `The account was created ${ageDays} days ago.`);
      } else {
        const eligible = new Date(account.createdAt + 14 * DAY_MS).toISOString().slice(0, 10);
        set(
          'account_age',
          'warn',
          `The account was created ${Math.max(0, ageDays)} days ago and is not eligible for advertising during its first 2 weeks. Audiences can be uploaded now; campaigns can use them from ${eligible}.`,
        );
      }
    }

    try {
      const access = await source.getAuthenticatedUserAccess(accountId, signal);
      result.access = access;
      const has = access.permissions;
      const listed = has.length > 0 ? has.join(', ') : 'no permissions';
      if (SUFFICIENT.some((p) => has.includes(p))) {
        set('permissions', 'pass', `User ${access.userId} has ${listed}.`);
      } else if (has.includes('AD_MANAGER')) {
        set(
          'permissions',
          'warn',
          `User ${access.userId} has ${listed}. Ad Manager can usually manage audiences, but X documents only Partner Audience Manager and Account Administrator for this API. ${GRANT_HINT}`,
        );
      } else {
        set(
          'permissions',
          'fail',
          `User ${access.userId} has ${listed} on account ${accountId}. ${GRANT_HINT}`,
        );
      }
    } catch (error) {
      const { message, xCode } = errorText(error);
      set('permissions', 'fail', `Could not read the user's permissions: ${message}`, xCode);
    }
  }

  result.checks = (Object.keys(LABELS) as VerifyCheckId[]).map((id) => checks.get(id)!);
  result.ok = result.checks.every((c) => c.status !== 'fail' && c.status !== 'skipped');
  return result;
}
