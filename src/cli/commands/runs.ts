import { Option, type Command } from 'commander';
import { RUN_FILTER_KINDS } from '../../server/run-filters.ts';
import {
  action,
  connect,
  examples,
  percent,
  printJson,
  printTable,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** `tca runs <dataflow>`: hourly dataflow runs. */
export function registerRunsCommand(program: Command): void {
  withConnection(
    program
      .command('runs <dataflowId>')
      .description(
        'Hourly runs of a dataflow: received, activated, excluded, failed, X requests, and the most changes waiting',
      )
      .option('--from <iso>', 'start of the range (default: 24 h ago)')
      .option('--to <iso>', 'end of the range (default: now)')
      .addOption(
        new Option('--with <kind>', 'only the runs with identities of this kind').choices(RUN_FILTER_KINDS),
      )
      .addHelpText(
        'after',
        examples([
          'tca runs df_123',
          'tca runs df_123 --with failed',
          'tca runs df_123 --from 2026-01-01T00:00:00Z --json',
        ]),
      ),
  ).action(
    action(
      async (dataflowId: string, opts: GlobalOptions & { from?: string; to?: string; with?: string }) => {
        const api = await connect(opts);
        const q = new URLSearchParams();
        if (opts.from) q.set('from', opts.from);
        if (opts.to) q.set('to', opts.to);
        if (opts.with) q.set('with', opts.with);
        const r = await api.request<{ items: Array<Record<string, unknown>> }>(
          'GET',
          `/api/v1/dataflows/${encodeURIComponent(dataflowId)}/runs${q.size > 0 ? `?${q}` : ''}`,
        );
        if (opts.json) return printJson(r.items);
        printTable(
          r.items.map((x) => ({
            ...x,
            activationRate: percent(x['activationRate']),
            // Counted every 30 s by the worker; none for an hour with nothing waiting.
            pendingPeak: typeof x['pendingPeak'] === 'number' ? x['pendingPeak'] : '-',
          })),
          [
            'runStart',
            'status',
            'profilesReceived',
            'identitiesActivated',
            'identitiesExcluded',
            'identitiesFailed',
            'activationRate',
            'xRequests',
            'pendingPeak',
          ],
        );
      },
    ),
  );
}
