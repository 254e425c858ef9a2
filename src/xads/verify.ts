/**
 * Preflight checklist for an ads account, built on three reads: `GET accounts/:id`,
 * `GET accounts/:id/authenticated_user_access` and `GET accounts/:id/custom_audiences?count=1` (whether the app may
 * use the Audience API; a read, so it changes nothing at X).
 */
import {
  AuthError,
  isXAdsError,
  NotFoundError,
  PermissionError,
  RateLimitedError,
  TransientError,
} from './errors.ts';
import type { AuthenticatedUserAccess, XAccount } from './types.ts';

export type VerifyCheckId =
  'credentials' | 'account_access' | 'approval_status' | 'account_age' | 'permissions' | 'audience_api';
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

/**
 * Why a preflight did not pass: `credentials` X refused them (401); `refused` X answered and refused something else
 * or the account is not fit (403, 404, a check's finding); `unreachable` X could not be reached or did not answer
 * usefully (network failure, timeout, 5xx, 429), so nothing was learnt about the connection.
 */
export type VerifyFailure = 'credentials' | 'refused' | 'unreachable';

export interface VerifyResult {
  accountId: string;
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  checks: VerifyCheck[];
  /** When not ok: the gravest failure, `credentials` before `refused` before `unreachable`. */
  failure?: VerifyFailure;
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
  /** `GET accounts/:id/custom_audiences`: only whether X answers matters. */
  listCustomAudiencesPage(
    accountId: string,
    options?: { count?: number; signal?: AbortSignal },
  ): Promise<unknown>;
}

const LABELS: Record<VerifyCheckId, string> = {
  credentials: 'Credentials are valid',
  account_access: 'The ads account is accessible',
  approval_status: 'The ads account is approved (approval_status ACCEPTED)',
  account_age: 'The ads account is older than 14 days',
  permissions: 'The user may manage partner audiences',
  audience_api: 'The app may use the Audience API (custom audiences)',
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** Permissions that allow audience uploads. AD_MANAGER probably does too, but X does not say so. */
const SUFFICIENT = ['PARTNER_AUDIENCE_MANAGER', 'ACCOUNT_ADMIN'];
const GRANT_HINT =
  'Audience uploads need the Partner Audience Manager permission (PARTNER_AUDIENCE_MANAGER) or Account Administrator. ' +
  'An administrator of the ads account grants it at ads.x.com: account menu → "Edit access to account" (multi-user access) → add or edit the user → select Partner Audience Manager.';

/**
 * How to get an app onto the Audience API. X's docs: "For access to the Audience endpoint, you will need to be added to
 * an allowlist" (Audience API Integration → Prerequisites); Custom Audiences are part of the Ads API access an app is
 * granted (docs.x.com/x-ads-api/getting-started/increasing-access).
 */
const AUDIENCE_ACCESS_HINT =
  'X allows the Audience API (custom audiences) only to apps on its allowlist. Request Ads API access with Custom Audiences for this app in the X developer portal (developer.x.com, Ads API access application; see docs.x.com/x-ads-api/getting-started/increasing-access), or use the credentials of an app that has it. Once X grants it, verify the destination again: no new tokens are needed for the same app.';

/** What a failed request says about the connection (see {@link VerifyFailure}). */
function failureOf(error: unknown): VerifyFailure {
  if (error instanceof AuthError) return 'credentials';
  if (error instanceof TransientError || error instanceof RateLimitedError || !isXAdsError(error))
    return 'unreachable';
  return 'refused';
}

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
  /** What each failed check says about the connection; a check's own finding (no failed request) is `refused`. */
  const failures = new Map<VerifyCheckId, VerifyFailure>();
  const set = (id: VerifyCheckId, status: VerifyStatus, message: string, xCode?: string) =>
    checks.set(id, { id, label: LABELS[id], status, message, ...(xCode === undefined ? {} : { xCode }) });
  const failed = (id: VerifyCheckId, error: unknown, message: string, xCode?: string) => {
    set(id, 'fail', message, xCode);
    failures.set(id, failureOf(error));
  };
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
      failed(
        'credentials',
        error,
        `X refused the credentials (bad signature, revoked token, or keys of another app): ${error.message}. Re-authorize the destination (log in with X again or paste fresh tokens).`,
        xCode,
      );
      skipRest('Skipped: the credentials were refused.');
    } else if (
      error instanceof PermissionError &&
      (xCode === 'UNAUTHORIZED_CLIENT_APPLICATION' || xCode === 'READONLY_CLIENT_APPLICATION')
    ) {
      failed('credentials', error, `The app cannot use this API: ${message}`, xCode);
      skipRest('Skipped: the app does not have Ads API access.');
    } else if (error instanceof PermissionError || error instanceof NotFoundError) {
      set('credentials', 'pass', 'X accepted the OAuth credentials.');
      failed(
        'account_access',
        error,
        `Ads account ${accountId} is not accessible to this user: ${error.message}. Check the account id (ads.x.com shows it in the URL) or ask an account administrator to add the user.`,
        xCode,
      );
      skipRest('Skipped: the ads account is not accessible.');
    } else {
      // Not a verdict on the credentials: X did not answer usefully (network, timeout, 5xx, 429).
      failed(
        'credentials',
        error,
        `Could not check the credentials, X could not be reached: ${message} Try again later.`,
        xCode,
      );
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
      failed(
        'permissions',
        error,
        `Could not read the user's permissions${failureOf(error) === 'unreachable' ? ', X could not be reached' : ''}: ${message}`,
        xCode,
      );
    }

    // The app's own access: X answers 403 UNAUTHORIZED_CLIENT_APPLICATION on custom audiences to an app not on the
    // Audience API allowlist, though the reads above work. A read of one audience costs no write.
    try {
      await source.listCustomAudiencesPage(accountId, { count: 1, ...signal });
      set('audience_api', 'pass', "X let the app read the account's custom audiences.");
    } catch (error) {
      const { message, xCode } = errorText(error);
      if (error instanceof PermissionError && xCode === 'UNAUTHORIZED_CLIENT_APPLICATION') {
        failed(
          'audience_api',
          error,
          `X refused the app access to custom audiences (403 ${xCode}): every audience upload would be refused and pause its dataflow. ${AUDIENCE_ACCESS_HINT}`,
          xCode,
        );
      } else if (failureOf(error) === 'unreachable') {
        failed(
          'audience_api',
          error,
          `Could not check the app's access to custom audiences, X could not be reached: ${message} Try again later.`,
          xCode,
        );
      } else {
        failed('audience_api', error, `X refused to list the account's custom audiences: ${message}`, xCode);
      }
    }
  }

  result.checks = (Object.keys(LABELS) as VerifyCheckId[]).map((id) => checks.get(id)!);
  result.ok = result.checks.every((c) => c.status !== 'fail' && c.status !== 'skipped');
  if (!result.ok) {
    const found = new Set(
      result.checks.filter((c) => c.status === 'fail').map((c) => failures.get(c.id) ?? 'refused'),
    );
    result.failure = found.has('credentials')
      ? 'credentials'
      : found.has('refused') || found.size === 0
        ? 'refused'
        : 'unreachable';
  }
  return result;
}
