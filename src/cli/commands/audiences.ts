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

/** `tca audiences [--dataflow ID]`: activated audiences and their X state; `tca activate-now ID`. */
export function registerAudiencesCommand(program: Command): void {
  withConnection(
    program
      .command('audiences')
      .description(
        'Activated audiences: X audience id, size, targetable, pending changes, next and last delivery',
      )
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
        'nextDeliveryAt',
        'nextDeliveryReason',
        'lastDeliveryAt',
        'status',
      ]);
    }),
  );
  withConnection(
    program
      .command('activate-now <audienceId>')
      .description(
        'Send every member of an audience to X again with a delivery started now (e.g. after members were removed in ' +
          "X's tools); once per 24 hours per audience",
      )
      .addHelpText('after', examples(['tca activate-now aud_3f2b9c0e6d7a4e1b9a8c7d6e5f4a3b2c'])),
  ).action(
    action(async (audienceId: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ audienceId: string; queued: number; nextAllowedAt: string }>(
        'POST',
        `/api/v1/audiences/${encodeURIComponent(audienceId)}/activate-now`,
      );
      if (opts.json) return printJson(r);
      process.stdout.write(
        `Queued ${r.queued} members of ${r.audienceId} to be sent again; next possible at ${r.nextAllowedAt}\n`,
      );
    }),
  );
}
