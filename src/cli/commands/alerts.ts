import type { Command } from 'commander';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  withConnection,
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
      .addHelpText('after', examples(['tca alerts --firing', 'tca alerts --json'])),
  ).action(
    action(async (opts: GlobalOptions & { firing?: boolean; resolved?: boolean; limit: string }) => {
      const api = await connect(opts);
      const query = new URLSearchParams({ limit: opts.limit });
      if (opts.firing && !opts.resolved) query.set('status', 'firing');
      if (opts.resolved && !opts.firing) query.set('status', 'resolved');
      const r = await api.request<{ items: Array<Record<string, unknown>> }>(
        'GET',
        `/api/v1/alerts?${query}`,
      );
      if (opts.json) return printJson(r.items);
      printTable(r.items, ['status', 'severity', 'type', 'dataflowName', 'firedAt', 'resolvedAt', 'message']);
    }),
  );
}
