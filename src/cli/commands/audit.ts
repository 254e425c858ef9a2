import { InvalidArgumentError, type Command } from 'commander';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';
import type { AuditEventListView } from '../../server/backend.ts';

const positive = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new InvalidArgumentError('a whole number from 1 to 10000');
  return n;
};

/** `tca audit`: the sandbox's audit trail, newest first (Manage Tokens). */
export function registerAuditCommand(program: Command): void {
  withConnection(
    program
      .command('audit')
      .description(
        'Changes made through the API, newest first: who, when, what (field names only, never values)',
      )
      .option('--limit <n>', 'how many events (pages through the API as needed)', positive, 50)
      .option('--target <id>', 'only the events about this object (a dataflow, a destination, …)')
      .addHelpText(
        'after',
        examples(['tca audit', 'tca audit --target df_123 --limit 200', 'tca audit --json | jq ".[].route"']),
      ),
  ).action(
    action(async (opts: GlobalOptions & { limit: number; target?: string }) => {
      const api = await connect(opts);
      const events: AuditEventListView['items'] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ limit: String(Math.min(1000, opts.limit - events.length)) });
        if (opts.target !== undefined) query.set('target', opts.target);
        if (cursor !== null) query.set('cursor', cursor);
        const page: AuditEventListView = await api.request('GET', `/api/v1/audit-events?${query.toString()}`);
        events.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null && events.length < opts.limit);
      if (opts.json) return printJson(events);
      printTable(
        events.map((e) => ({
          at: e.at,
          token: e.token.name,
          request: `${e.method} ${e.route}`,
          target: e.target ?? '',
          status: e.status,
          fields: e.fields.join(', '),
        })),
        ['at', 'token', 'request', 'target', 'status', 'fields'],
      );
    }),
  );
}
