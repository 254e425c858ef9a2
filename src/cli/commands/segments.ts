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

/** `tca segments list|create`. */
export function registerSegmentsCommand(program: Command): void {
  const group = program.command('segments').description('Source segments (as in segmentMembership)');
  withConnection(
    group
      .command('list')
      .description('List segments')
      .addHelpText('after', examples(['tca segments list --json'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>('GET', '/api/v1/segments');
      if (opts.json) printJson(r.items);
      else printTable(r.items, ['id', 'namespace', 'name']);
    }),
  );
  withConnection(
    group
      .command('create')
      .description('Register a segment')
      .requiredOption('--id <id>', 'the source segment id')
      .requiredOption('--name <name>', 'display name (the default X audience name)')
      .option(
        '--namespace <ns>',
        "'ups' (Segmentation Service) is the only one X Custom Audiences accepts",
        'ups',
      )
      .option('--description <text>', 'description')
      .addHelpText(
        'after',
        examples(['tca segments create --id 7841ba61-23c1-4bb3-a495-00d3a4e3e0d5 --name "Loyal Customers"']),
      ),
  ).action(
    action(
      async (opts: GlobalOptions & { id: string; name: string; namespace: string; description?: string }) => {
        const api = await connect(opts);
        const s = await api.request<Record<string, unknown>>('POST', '/api/v1/segments', {
          id: opts.id,
          name: opts.name,
          namespace: opts.namespace,
          ...(opts.description !== undefined ? { description: opts.description } : {}),
        });
        if (opts.json) printJson(s);
        else process.stdout.write(`Created segment ${String(s['id'])}\n`);
      },
    ),
  );
}
