import type { Command } from 'commander';
import {
  action,
  CliError,
  connect,
  EXIT,
  examples,
  printJson,
  printTable,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** `tca dead-letters list|replay`. */
export function registerDeadLettersCommand(program: Command): void {
  const group = program
    .command('dead-letters')
    .description('Users X rejected (hashes only) and their replay');
  withConnection(
    group
      .command('list')
      .description('List dead letters')
      .option('--dataflow <id>', 'only this dataflow')
      .addHelpText('after', examples(['tca dead-letters list --dataflow df_123'])),
  ).action(
    action(async (opts: GlobalOptions & { dataflow?: string }) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>(
        'GET',
        `/api/v1/dead-letters${opts.dataflow ? `?dataflowId=${encodeURIComponent(opts.dataflow)}` : ''}`,
      );
      if (opts.json) return printJson(r.items);
      printTable(r.items, ['id', 'dataflowId', 'operation', 'error', 'createdAt', 'replayedAt']);
    }),
  );
  withConnection(
    group
      .command('replay')
      .description('Queue dead letters for delivery again')
      .option('--dataflow <id>', 'every dead letter of this dataflow')
      .option('--id <id...>', 'these dead letters')
      .addHelpText(
        'after',
        examples(['tca dead-letters replay --dataflow df_123', 'tca dead-letters replay --id dl_1 dl_2']),
      ),
  ).action(
    action(async (opts: GlobalOptions & { dataflow?: string; id?: string[] }) => {
      // Replaying every dead letter of the sandbox is never what a bare command means: say what to give.
      if (opts.dataflow === undefined && opts.id === undefined)
        throw new CliError(
          'Say which dead letters to replay: --id <id...> (from tca dead-letters list), --dataflow <id> (all of a dataflow), or both (those ids, of that dataflow)',
          EXIT.usage,
        );
      const api = await connect(opts);
      const r = await api.request<{ replayed: number }>('POST', '/api/v1/dead-letters/replay', {
        ...(opts.dataflow ? { dataflowId: opts.dataflow } : {}),
        ...(opts.id ? { ids: opts.id } : {}),
      });
      if (opts.json) return printJson(r);
      process.stdout.write(`Replayed ${r.replayed}\n`);
    }),
  );
}
