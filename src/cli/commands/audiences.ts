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

/** `tca audiences [--dataflow ID]`: activated audiences and their X state. */
export function registerAudiencesCommand(program: Command): void {
  withConnection(
    program
      .command('audiences')
      .description('Activated audiences: X audience id, size, targetable, pending changes, last delivery')
      .option('--dataflow <id>', 'only this dataflow’s audiences')
      .addHelpText('after', examples(['tca audiences', 'tca audiences --dataflow df_123 --json'])),
  ).action(
    action(async (opts: GlobalOptions & { dataflow?: string }) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>(
        'GET',
        `/api/v1/audiences${opts.dataflow ? `?dataflowId=${encodeURIComponent(opts.dataflow)}` : ''}`,
      );
      if (opts.json) return printJson(r.items);
      printTable(r.items, [
        'name',
        'xAudienceId',
        'size',
        'targetable',
        'pendingAdds',
        'pendingRemoves',
        'lastDeliveryAt',
        'status',
      ]);
    }),
  );
}
