import type { Selectable } from 'kysely';
import { isUniqueViolation, StoreError } from '../errors.ts';
import type { SandboxesTable } from '../schema/index.ts';
import type { RepositoryContext } from './context.ts';

/** The sandbox every installation starts with. */
export const DEFAULT_SANDBOX_ID = 'prod';

export interface Sandbox {
  id: string;
  name: string;
  createdAt: number;
}

const toSandbox = (row: Selectable<SandboxesTable>): Sandbox => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
});

/** Sandboxes: every other object belongs to exactly one. */
export function sandboxRepository(ctx: RepositoryContext) {
  return {
    /** Creates a sandbox; `name` is unique. The id defaults to a generated `sbx_…`. */
    async create(input: { name: string; id?: string }): Promise<Sandbox> {
      const row = { id: input.id ?? ctx.newId('sbx'), name: input.name, created_at: ctx.now() };
      try {
        await ctx.db.insertInto('sandboxes').values(row).execute();
      } catch (cause) {
        if (isUniqueViolation(cause)) {
          throw new StoreError('conflict', `A sandbox named "${input.name}" already exists`, { cause });
        }
        throw cause;
      }
      return toSandbox(row);
    },

    async get(id: string): Promise<Sandbox | undefined> {
      const row = await ctx.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toSandbox(row);
    },

    async getByName(name: string): Promise<Sandbox | undefined> {
      const row = await ctx.db
        .selectFrom('sandboxes')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row && toSandbox(row);
    },

    async list(): Promise<Sandbox[]> {
      const rows = await ctx.db
        .selectFrom('sandboxes')
        .selectAll()
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(toSandbox);
    },
  };
}

export type SandboxRepository = ReturnType<typeof sandboxRepository>;
