import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { ApiTokensTable } from '../schema/index.ts';
import { parseJson, type RepositoryContext } from './context.ts';

/** Every token starts with this, so a leaked token is recognisable (e.g. by secret scanners). */
export const API_TOKEN_PREFIX = 'tca_';

export interface ApiToken {
  id: string;
  sandboxId: string;
  name: string;
  /** The token's first characters, e.g. `tca_Ab3x`, to tell tokens apart; not enough to use it. */
  tokenPrefix: string;
  permissions: string[];
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** SHA-256 (hex) of a token: what the database stores and looks up. Tokens carry 256 random bits, so no salt. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const toApiToken = (row: Selectable<ApiTokensTable>): ApiToken => ({
  id: row.id,
  sandboxId: row.sandbox_id,
  name: row.name,
  tokenPrefix: row.token_prefix,
  permissions: parseJson<string[]>(row.permissions, 'api_tokens.permissions'),
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  revokedAt: row.revoked_at,
});

/** API tokens, stored as hashes; the token itself is returned once, by `create`. */
export function apiTokenRepository(ctx: RepositoryContext) {
  return {
    /**
     * Issues a token: `tca_` + 32 random bytes in base64url. Returns the token (show it once; it cannot be recovered)
     * and its record.
     */
    async create(input: { sandboxId: string; name: string; permissions: readonly string[] }): Promise<{
      token: string;
      apiToken: ApiToken;
    }> {
      const token = API_TOKEN_PREFIX + ctx.randomBytes(32).toString('base64url');
      const row = {
        id: ctx.newId('tok'),
        sandbox_id: input.sandboxId,
        name: input.name,
        token_hash: hashApiToken(token),
        token_prefix: token.slice(0, API_TOKEN_PREFIX.length + 4),
        permissions: JSON.stringify([...input.permissions]),
        created_at: ctx.now(),
        last_used_at: null,
        revoked_at: null,
      };
      await ctx.db.insertInto('api_tokens').values(row).execute();
      return { token, apiToken: toApiToken(row) };
    },

    /** The live (not revoked) token record for a presented token, from any sandbox; undefined if unknown or revoked. */
    async authenticate(token: string): Promise<ApiToken | undefined> {
      if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
      const row = await ctx.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('token_hash', '=', hashApiToken(token))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row && toApiToken(row);
    },

    /** Records a use of the token. */
    async touch(id: string, at: number = ctx.now()): Promise<void> {
      await ctx.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
    },

    async get(sandboxId: string, id: string): Promise<ApiToken | undefined> {
      const row = await ctx.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .executeTakeFirst();
      return row && toApiToken(row);
    },

    /** The sandbox's tokens, revoked ones included (they show `revokedAt`). */
    async list(sandboxId: string): Promise<ApiToken[]> {
      const rows = await ctx.db
        .selectFrom('api_tokens')
        .selectAll()
        .where('sandbox_id', '=', sandboxId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toApiToken);
    },

    /** Revokes a token; false if it does not exist in this sandbox or was already revoked. */
    async revoke(sandboxId: string, id: string): Promise<boolean> {
      const result = await ctx.db
        .updateTable('api_tokens')
        .set({ revoked_at: ctx.now() })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },
  };
}

export type ApiTokenRepository = ReturnType<typeof apiTokenRepository>;
