import { readFile, rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  wholeNumber,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';
import type { AuditEventListView, AuditFeedView } from '../../server/backend.ts';

interface AuditOpts extends GlobalOptions {
  limit: number;
  target?: string;
  allSandboxes?: boolean;
  feed?: boolean;
  follow?: boolean;
  cursorFile?: string;
  interval: number;
}

/** `tca audit`: the sandbox's audit trail, newest first (Manage Tokens), or its feed, oldest first, for a SIEM. */
export function registerAuditCommand(program: Command): void {
  withConnection(
    program
      .command('audit')
      .description(
        'Changes made through the API, newest first: who, when, what (field names only, never values)',
      )
      .option('--limit <n>', 'how many events (pages through the API as needed)', wholeNumber(1, 10_000), 50)
      .option('--target <id>', 'only the events about this object (a dataflow, a destination, …)')
      .option('--all-sandboxes', "every sandbox's events (needs Manage Sandboxes: the admin token)")
      .option(
        '--feed',
        'print the events new since --cursor-file, oldest first, one JSON object per line, then exit',
      )
      .option('--follow', 'like --feed, then keep polling for new events until stopped')
      .option('--cursor-file <path>', 'where --feed/--follow keep their place between runs')
      .option(
        '--interval <seconds>',
        'how often --follow polls when it has caught up',
        wholeNumber(1, 10_000),
        5,
      )
      .addHelpText(
        'after',
        examples([
          'tca audit',
          'tca audit --target df_123 --limit 200',
          'tca audit --json | jq ".[].route"',
          'tca audit --follow --all-sandboxes --cursor-file /var/lib/tca/audit.cursor >> audit.ndjson',
        ]),
      ),
  ).action(
    action(async (opts: AuditOpts) => {
      if (opts.feed || opts.follow) return feed(opts);
      const api = await connect(opts);
      const events: AuditEventListView['items'] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ limit: String(Math.min(1000, opts.limit - events.length)) });
        if (opts.target !== undefined) query.set('target', opts.target);
        if (opts.allSandboxes) query.set('allSandboxes', 'true');
        if (cursor !== null) query.set('cursor', cursor);
        const page: AuditEventListView = await api.request('GET', `/api/v1/audit-events?${query.toString()}`);
        events.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null && events.length < opts.limit);
      if (opts.json) return printJson(events);
      printTable(
        events.map((e) => ({
          at: e.at,
          ...(opts.allSandboxes ? { sandbox: e.sandbox } : {}),
          token: e.token.name,
          request: `${e.method} ${e.route}`,
          target: e.target ?? '',
          status: e.status,
          fields: e.fields.join(', '),
        })),
        ['at', ...(opts.allSandboxes ? ['sandbox'] : []), 'token', 'request', 'target', 'status', 'fields'],
      );
    }),
  );
}

/**
 * Prints the audit feed as NDJSON from the cursor in `--cursor-file` (from the oldest event kept without one),
 * saving the cursor after each page: a restart repeats at most the page it was printing (the event ids tell).
 */
async function feed(opts: AuditOpts): Promise<void> {
  const api = await connect(opts);
  let after: string | null = null;
  if (opts.cursorFile !== undefined) {
    try {
      after = (await readFile(opts.cursorFile, 'utf8')).trim() || null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  let stopping = false;
  const stop = () => (stopping = true);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopping) {
      const query = new URLSearchParams({ limit: '500' });
      if (opts.allSandboxes) query.set('allSandboxes', 'true');
      if (after !== null) query.set('after', after);
      const page: AuditFeedView = await api.request('GET', `/api/v1/audit-events/feed?${query.toString()}`);
      if (page.items.length > 0)
        process.stdout.write(page.items.map((e) => JSON.stringify(e)).join('\n') + '\n');
      if (page.cursor !== null && page.cursor !== after) {
        after = page.cursor;
        if (opts.cursorFile !== undefined) {
          // Written whole or not at all: a crash never leaves half a cursor.
          await writeFile(`${opts.cursorFile}.tmp`, `${after}\n`);
          await rename(`${opts.cursorFile}.tmp`, opts.cursorFile);
        }
      }
      if (page.items.length === 500) continue;
      if (!opts.follow) return;
      for (let waited = 0; waited < opts.interval * 10 && !stopping; waited += 1) await sleep(100);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
