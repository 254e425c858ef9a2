import type { XUser } from '../identity/types.ts';

/** OAuth 1.0a user-context credentials: the app's consumer key/secret and the user's access token/secret. */
export interface XCredentials {
  consumerKey: string;
  consumerSecret: string;
  accessToken: string;
  accessTokenSecret: string;
}

export type XApiVersion = 11 | 12;

/** An ads account (`GET accounts/:account_id`); fields X documents, others kept in `raw`. */
export interface XAccount {
  id: string;
  name: string | null;
  approvalStatus: string | null;
  /** Epoch ms, or null when X did not send a readable `created_at`. */
  createdAt: number | null;
  timezone: string | null;
  deleted: boolean;
  raw: Record<string, unknown>;
}

/** `GET accounts/:account_id/authenticated_user_access`. */
export interface AuthenticatedUserAccess {
  /** X documents a string; an older page shows a number. Both arrive as a string here. */
  userId: string;
  permissions: string[];
}

/** A custom audience as X returns it; unknown fields kept in `raw`. */
export interface CustomAudience {
  id: string;
  name: string;
  description: string | null;
  audienceType: string | null;
  /** Null until X has processed the audience (and while it is too small). */
  audienceSize: number | null;
  targetable: boolean;
  targetableTypes: string[];
  reasonsNotTargetable: string[];
  permissionLevel: string | null;
  ownerAccountId: string | null;
  partnerSource: string | null;
  deleted: boolean;
  createdAt: string | null;
  updatedAt: string | null;
  raw: Record<string, unknown>;
}

export type UserOperationType = 'Update' | 'Delete';

/** One operation object of the users endpoint body. */
export interface UserOperation {
  operation_type: UserOperationType;
  params: {
    effective_at?: string;
    expires_at?: string;
    users: XUser[];
  };
}

/** One desired membership change: add/refresh (`Update`) or remove (`Delete`) one user. */
export interface UserChange {
  operation: UserOperationType;
  user: XUser;
  /**
   * `JSON.stringify(user)`, when the caller holds it already (a user read back from its stored canonical text): the
   * packer puts it in the body as it is instead of serializing the user again.
   */
  json?: string;
  effectiveAt?: Date;
  expiresAt?: Date;
}

/** One users-endpoint request planned by `packUserChanges`. */
export interface PackedRequest {
  operations: UserOperation[];
  /** The exact body to send (`JSON.stringify(operations)`). */
  body: string;
  /** `Buffer.byteLength(body)`. */
  bytes: number;
  /** Indexes (into the input) of the changes this request carries, in body order. */
  changeIndexes: number[];
  /** For each operation object, the input indexes of its users, in order; maps `operation_errors` back. */
  operationChangeIndexes: number[][];
  /** Number of user objects (what `success_count` must equal). */
  userCount: number;
}

/** The counts X returned for a users request, already checked against what was sent. */
export interface UsersResult {
  successCount: number;
  totalCount: number;
  userCount: number;
}
