import type { AudienceMembership } from './membership.ts';
import { isMemberMatched } from './match-rate.ts';
import type { ParsedSeed } from './seed.ts';
import type { UsersOperation } from './users-body.ts';

export interface AppRecord {
  consumerKey: string;
  consumerSecret: string;
  /** false: the app has no Ads API access at all (403 UNAUTHORIZED_CLIENT_APPLICATION everywhere). */
  adsAccess: boolean;
  /** false: the app is not allowlisted for the Audience API (403 on custom audience routes). */
  audienceAccess: boolean;
}

export interface UserRecord {
  userId: string;
  screenName: string;
}

export interface TokenRecord {
  token: string;
  tokenSecret: string;
  userId: string;
  consumerKey: string;
}

export interface AudienceRecord {
  id: string;
  accountId: string;
  name: string;
  description: string | null;
  createdAt: number;
  updatedAt: number;
  deleted: boolean;
  members: AudienceMembership;
  /** Matched size of the last processing run; null until the first run. */
  processedSize: number | null;
  /** When membership last changed without a processing run since; null when nothing is pending. */
  pendingSince: number | null;
}

export interface AccountRecord {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  approvalStatus: string;
  timezone: string;
  /** user id → permissions */
  access: Map<string, string[]>;
  /** creation order, deleted ones included */
  audiences: AudienceRecord[];
  audiencesById: Map<string, AudienceRecord>;
  /** Every name ever used in the account: X requires unique names, and a deleted audience keeps its name. */
  names: Set<string>;
}

/** A request token of the PIN flow (`oauth/request_token` → `oauth/authorize` → `oauth/access_token`). */
export interface RequestTokenRecord {
  token: string;
  tokenSecret: string;
  consumerKey: string;
  callback: string;
  createdAt: number;
  authorizedBy: string | null;
  pin: string | null;
}

/** Below this matched size X reports `TOO_SMALL` (docs.x.com audiences: "at least 100 users"). */
export const MIN_TARGETABLE_SIZE = 100;

/** Every piece of emulated X state, in memory. */
export class EmulatorState {
  apps = new Map<string, AppRecord>();
  users = new Map<string, UserRecord>();
  tokens = new Map<string, TokenRecord>();
  accounts = new Map<string, AccountRecord>();
  requestTokens = new Map<string, RequestTokenRecord>();
  /** audience ids are unique across accounts */
  audienceIds = new Set<string>();
  seenNonces = new Map<string, number>();

  applySeed(seed: ParsedSeed, now: number): void {
    for (const app of seed.apps) {
      this.apps.set(app.consumer_key, {
        consumerKey: app.consumer_key,
        consumerSecret: app.consumer_secret,
        adsAccess: app.ads_access ?? true,
        audienceAccess: app.audience_access ?? true,
      });
    }
    for (const user of seed.users) {
      this.users.set(user.user_id, {
        userId: user.user_id,
        screenName: user.screen_name ?? `user_${user.user_id}`,
      });
      this.tokens.set(user.token, {
        token: user.token,
        tokenSecret: user.token_secret,
        userId: user.user_id,
        consumerKey: user.consumer_key,
      });
    }
    for (const account of seed.accounts) {
      const existing = this.accounts.get(account.id);
      const createdAt =
        account.created_at === undefined ? (existing?.createdAt ?? now) : Date.parse(account.created_at);
      const access = new Map<string, string[]>(account.access.map((a) => [a.user_id, [...a.permissions]]));
      if (existing) {
        existing.name = account.name;
        existing.createdAt = createdAt;
        existing.approvalStatus = account.approval_status;
        if (account.timezone !== undefined) existing.timezone = account.timezone;
        existing.access = access;
        existing.updatedAt = now;
        continue;
      }
      this.accounts.set(account.id, {
        id: account.id,
        name: account.name,
        createdAt,
        updatedAt: createdAt,
        approvalStatus: account.approval_status,
        timezone: account.timezone ?? 'America/Los_Angeles',
        access,
        audiences: [],
        audiencesById: new Map(),
        names: new Set(),
      });
    }
  }

  /** Applies validated operations in array order. */
  applyOperations(audience: AudienceRecord, operations: readonly UsersOperation[], now: number): void {
    for (const operation of operations) {
      for (const user of operation.users) {
        if (operation.type === 'Update')
          audience.members.update(user, operation.effectiveAt, operation.expiresAt);
        else audience.members.delete(user);
      }
    }
    audience.pendingSince ??= now;
  }

  /**
   * A processing run: drops lapsed members and snapshots the matched size (members in effect whose
   * identifiers match at `matchRate`).
   */
  processAudience(audience: AudienceRecord, now: number, matchRate: number): void {
    audience.members.sweepExpired(now);
    let size = 0;
    for (const member of audience.members.active(now)) if (isMemberMatched(member, matchRate)) size += 1;
    audience.processedSize = size;
    audience.pendingSince = null;
  }

  *allAudiences(): IterableIterator<AudienceRecord> {
    for (const account of this.accounts.values()) yield* account.audiences;
  }
}
