import type { Selectable } from 'kysely';
import { isUniqueViolation, StoreError } from '../errors.ts';
import type { SandboxesTable } from '../schema/index.ts';
import { parseJson, type RepositoryContext } from './context.ts';

/** The sandbox every installation starts with. */
export const DEFAULT_SANDBOX_ID = 'prod';

/** The profile key comes from the first of these namespaces the profile has, unless the sandbox names others. */
export const DEFAULT_PROFILE_KEY_NAMESPACES: readonly string[] = ['ECID', 'CRMID'];

export interface Sandbox {
  id: string;
  name: string;
  createdAt: number;
  /** The identity namespaces profile keys come from, in order of preference; null: the service default. */
  profileKeyNamespaces: string[] | null;
}

const toSandbox = (row: Selectable<SandboxesTable>): Sandbox => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  profileKeyNamespaces:
    row.profile_key_namespaces === null
      ? null
      : parseJson<string[]>(row.profile_key_namespaces, 'sandboxes.profile_key_namespaces'),
});

/** Sandboxes: every other object belongs to exactly one. */
export function sandboxRepository(ctx: RepositoryContext) {
  return {
    /** Creates a sandbox; `name` is unique. The id defaults to a generated `sbx_…`. */
    async create(input: { name: string; id?: string }): Promise<Sandbox> {
      const row = {
        id: input.id ?? ctx.newId('sbx'),
        name: input.name,
        created_at: ctx.now(),
        profile_key_namespaces: null,
      };
      try {
        await ctx.db.insertInto('sandboxes').values(row).execute();
      } catch (cause) {
        if (isUniqueViolation(cause)) {
          throw new StoreError('conflict', `A sandbox named "${input.name}" already exists`, { cause });
        }
        throw cause;
      }
      return toSandbox({
        ...row,
        consent_policies: '[]',
        data_usage_policies: '[]',
        field_labels: '[]',
        profile_key_generation: 0,
        profile_key_rekey: null,
        profile_key_aliases: 0,
      });
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

    /**
     * Sets the namespaces profile keys come from (null: the service default). Callers check first that the sandbox
     * holds no profile: existing keys were made under the old namespaces. Returns false for an unknown sandbox.
     */
    async setProfileKeyNamespaces(id: string, namespaces: readonly string[] | null): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set({ profile_key_namespaces: namespaces === null ? null : JSON.stringify([...namespaces]) })
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /**
     * Re-keys a sandbox that holds profiles: new namespaces (null: the default), the next key generation, and the
     * re-keying in progress (JSON `{ from, since }`; null when it ends). Returns false for an unknown sandbox. Profiles
     * the re-keying never meets keep keys of the namespaces before, which may be later ones now: exports look later
     * namespaces' ids up from then on (`profile_key_aliases`).
     */
    async startProfileRekey(
      id: string,
      namespaces: readonly string[] | null,
      rekey: string,
    ): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set((eb) => ({
          profile_key_namespaces: namespaces === null ? null : JSON.stringify([...namespaces]),
          profile_key_generation: eb('profile_key_generation', '+', 1),
          profile_key_rekey: rekey,
          profile_key_aliases: 1,
        }))
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Ends the re-keying in progress (profiles are no longer looked for under their keys before). */
    async finishProfileRekey(id: string): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set({ profile_key_rekey: null })
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** The sandbox's own data-usage policies as stored (JSON array); undefined for an unknown sandbox. */
    async dataUsagePolicies(id: string): Promise<string | undefined> {
      const row = await ctx.db
        .selectFrom('sandboxes')
        .select('data_usage_policies')
        .where('id', '=', id)
        .executeTakeFirst();
      return row?.data_usage_policies;
    },

    /** Replaces them (a JSON array checked by the caller); false for an unknown sandbox. */
    async setDataUsagePolicies(id: string, policiesJson: string): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set({ data_usage_policies: policiesJson })
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** The data-usage labels on mapped fields as stored (JSON array); undefined for an unknown sandbox. */
    async fieldLabels(id: string): Promise<string | undefined> {
      const row = await ctx.db
        .selectFrom('sandboxes')
        .select('field_labels')
        .where('id', '=', id)
        .executeTakeFirst();
      return row?.field_labels;
    },

    /** Replaces them (a JSON array checked by the caller); false for an unknown sandbox. */
    async setFieldLabels(id: string, fieldsJson: string): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set({ field_labels: fieldsJson })
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /** Replaces the sandbox's consent policies (a JSON array checked by the caller); false for an unknown sandbox. */
    async setConsentPolicies(id: string, policiesJson: string): Promise<boolean> {
      const result = await ctx.db
        .updateTable('sandboxes')
        .set({ consent_policies: policiesJson })
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
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
