import type { CustomAudience, PackedRequest, UsersResult } from '../xads/types.ts';

/**
 * The part of the X Ads client the engine uses. `XAdsClient` satisfies it; tests may pass the real client pointed
 * at the emulator. Every method throws the client's error taxonomy (`XAdsError` subclasses) on failure.
 */
export interface EngineXClient {
  createCustomAudience(
    accountId: string,
    input: { name: string; description?: string },
  ): Promise<CustomAudience>;
  /** With `withDeleted`, a deleted audience is returned (`deleted: true`) instead of a 404. */
  getCustomAudience(
    accountId: string,
    audienceId: string,
    options?: { withDeleted?: boolean },
  ): Promise<CustomAudience>;
  /** The non-deleted audience with exactly this name, or null. */
  findCustomAudienceByName(accountId: string, name: string): Promise<CustomAudience | null>;
  updateCustomAudience(
    accountId: string,
    audienceId: string,
    input: { name?: string; description?: string },
  ): Promise<CustomAudience>;
  deleteCustomAudience(accountId: string, audienceId: string): Promise<CustomAudience>;
  /** `q` is X's case-insensitive name prefix; `withDeleted` includes deleted audiences. */
  listCustomAudiences(
    accountId: string,
    options?: { q?: string; withDeleted?: boolean },
  ): Promise<CustomAudience[]>;
  /** `retries: 0`: a failure comes back at once, and the engine schedules the next attempt (`nextAttemptAt`). */
  postUsers(
    accountId: string,
    audienceId: string,
    request: PackedRequest,
    options?: { retries?: number },
  ): Promise<UsersResult>;
  verify(accountId: string): Promise<{ ok: boolean }>;
}
