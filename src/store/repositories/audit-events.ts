import type { Selectable } from 'kysely';
import type { AuditEventsTable } from '../schema/index.ts';
import { parseJson, type RepositoryContext } from './context.ts';

/** One change made through the API. */
export interface AuditEvent {
  id: string;
  sandboxId: string;
  at: number;
  /** The token that made it, and its name at the time. */
  tokenId: string;
  tokenName: string;
  method: string;
  /** The route template, e.g. `/api/v1/dataflows/:id`. */
  route: string;
  action: string;
  /** The id the path names, or null. */
  target: string | null;
  status: number;
  /** The top-level body fields sent, by name (values are never kept: they may hold secrets or identifiers). */
  fields: string[];
}

export type AuditEventInput = Omit<AuditEvent, 'id' | 'at'>;

/** Where a page of events ends: the next page starts after it (events are listed newest first). */
export interface AuditCursor {
  at: number;
  id: string;
}

const toAuditEvent = (row: Selectable<AuditEventsTable>): AuditEvent => ({
  id: row.id,
  sandboxId: row.sandbox_id,
  at: Number(row.at),
  tokenId: row.token_id,
  tokenName: row.token_name,
  method: row.method,
  route: row.route,
  action: row.action,
  target: row.target,
  status: row.status,
  fields: parseJson<string[]>(row.fields, 'audit_events.fields'),
});

/** The audit trail: appended by the API for every change, read newest first, pruned past its retention. */
export function auditEventRepository(ctx: RepositoryContext) {
  return {
    async record(input: AuditEventInput): Promise<AuditEvent> {
      const row = {
        id: ctx.newId('aev'),
        sandbox_id: input.sandboxId,
        at: ctx.now(),
        token_id: input.tokenId,
        token_name: input.tokenName,
        method: input.method,
        route: input.route,
        action: input.action,
        target: input.target,
        status: input.status,
        fields: JSON.stringify(input.fields),
      };
      await ctx.db.insertInto('audit_events').values(row).execute();
      return toAuditEvent(row);
    },

    /**
     * The sandbox's events (every sandbox's for null), newest first: `limit` of them after `after` (a page's last
     * event), or about `target`.
     */
    async list(
      sandboxId: string | null,
      options: { limit: number; after?: AuditCursor | undefined; target?: string | undefined },
    ): Promise<AuditEvent[]> {
      let query = ctx.db.selectFrom('audit_events').selectAll();
      if (sandboxId !== null) query = query.where('sandbox_id', '=', sandboxId);
      if (options.target !== undefined) query = query.where('target', '=', options.target);
      const after = options.after;
      if (after !== undefined) {
        query = query.where((eb) =>
          eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]),
        );
      }
      const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
      return rows.map(toAuditEvent);
    },

    /**
     * The sandbox's events (every sandbox's for null) oldest first, for a reader that polls: `limit` of them after
     * `after`, recorded before `before` (epoch ms). Reading only events older than a moment ago keeps an event whose
     * insert was still landing from being passed over by a reader that has moved beyond its time.
     */
    async feed(
      sandboxId: string | null,
      options: { limit: number; after?: AuditCursor | undefined; before: number },
    ): Promise<AuditEvent[]> {
      let query = ctx.db.selectFrom('audit_events').selectAll().where('at', '<', options.before);
      if (sandboxId !== null) query = query.where('sandbox_id', '=', sandboxId);
      const after = options.after;
      if (after !== undefined) {
        query = query.where((eb) =>
          eb.or([eb('at', '>', after.at), eb.and([eb('at', '=', after.at), eb('id', '>', after.id)])]),
        );
      }
      const rows = await query.orderBy('at', 'asc').orderBy('id', 'asc').limit(options.limit).execute();
      return rows.map(toAuditEvent);
    },

    /** How many events (of every sandbox) come after `after` in the feed's order; all of them without it. */
    async countAfter(after: AuditCursor | undefined): Promise<number> {
      let query = ctx.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n'));
      if (after !== undefined) {
        query = query.where((eb) =>
          eb.or([eb('at', '>', after.at), eb.and([eb('at', '=', after.at), eb('id', '>', after.id)])]),
        );
      }
      const row = await query.executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** Deletes events older than `before` (epoch ms); returns how many. */
    async prune(before: number): Promise<number> {
      const result = await ctx.db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}

export type AuditEventRepository = ReturnType<typeof auditEventRepository>;
