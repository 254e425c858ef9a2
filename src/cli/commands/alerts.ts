import type { Command } from 'commander';
import {
  EXIT,
  action,
  connect,
  examples,
  printJson,
  printTable,
  withConnection,
  type Api,
  type GlobalOptions,
} from './api-client.ts';

/** `tca alerts`: the sandbox's alerts firing now and those resolved in the last 30 days. */
export function registerAlertsCommand(program: Command): void {
  withConnection(
    program
      .command('alerts')
      .description('Alerts firing now and those resolved in the last 30 days, newest first')
      .option('--firing', 'only those firing now')
      .option('--resolved', 'only resolved ones')
      .option('--limit <n>', 'at most this many (1-1000)', '100')
      .option(
        '--test',
        "send a test notification to the installation's webhook (TCA_ALERT_WEBHOOK_URL; admin)",
      )
      .addHelpText('after', examples(['tca alerts --firing', 'tca alerts --json', 'tca alerts --test'])),
  ).action(
    action(
      async (
        opts: GlobalOptions & { firing?: boolean; resolved?: boolean; limit: string; test?: boolean },
      ) => {
        const api = await connect(opts);
        if (opts.test) return testAlert(api, '/api/v1/alerts/test', opts);
        const query = new URLSearchParams({ limit: opts.limit });
        if (opts.firing && !opts.resolved) query.set('status', 'firing');
        if (opts.resolved && !opts.firing) query.set('status', 'resolved');
        const r = await api.request<{ items: Array<Record<string, unknown>> }>(
          'GET',
          `/api/v1/alerts?${query}`,
        );
        if (opts.json) return printJson(r.items);
        printTable(r.items, [
          'status',
          'severity',
          'type',
          'dataflowName',
          'firedAt',
          'resolvedAt',
          'message',
        ]);
      },
    ),
  );
}

/**
 * Sends a test notification through `path` (the installation's webhook, or a destination's) and prints whether the
 * webhook accepted it; the exit code says so too.
 */
export async function testAlert(api: Api, path: string, opts: GlobalOptions): Promise<number> {
  const r = await api.request<{ url: string; delivered: boolean; error: string | null }>('POST', path);
  if (opts.json) printJson(r);
  else
    process.stdout.write(
      r.delivered
        ? `Delivered: ${r.url} accepted the test notification\n`
        : `Not delivered to ${r.url}: ${r.error ?? 'refused'}\n`,
    );
  return r.delivered ? EXIT.ok : EXIT.refused;
}
