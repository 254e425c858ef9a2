import type { Command } from 'commander';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  splitList,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** `tca segments list|create|labels|delete`. */
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
      else printTable(r.items, ['id', 'namespace', 'name', 'labels']);
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
      .option('--labels <labels>', 'data-usage labels, comma-separated (e.g. C2,I1)')
      .addHelpText(
        'after',
        examples([
          'tca segments create --id 7841ba61-23c1-4bb3-a495-00d3a4e3e0d5 --name "Loyal Customers"',
          'tca segments create --id seg-crm --name "CRM members" --labels C2,I1',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          id: string;
          name: string;
          namespace: string;
          description?: string;
          labels?: string;
        },
      ) => {
        const api = await connect(opts);
        const s = await api.request<Record<string, unknown>>('POST', '/api/v1/segments', {
          id: opts.id,
          name: opts.name,
          namespace: opts.namespace,
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(opts.labels !== undefined ? { labels: splitList(opts.labels) } : {}),
        });
        if (opts.json) printJson(s);
        else process.stdout.write(`Created segment ${String(s['id'])}\n`);
      },
    ),
  );
  withConnection(
    group
      .command('labels <id> <labels>')
      .description(
        "Set a segment's data-usage labels (comma-separated; '' for none). Refused when they would forbid a marketing " +
          'action of a destination the segment is activated to',
      )
      .addHelpText(
        'after',
        examples(['tca segments labels seg-crm C2,I1', "tca segments labels seg-crm ''"]),
      ),
  ).action(
    action(async (id: string, labels: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const s = await api.request<{ id: string; labels: string[] }>(
        'PATCH',
        `/api/v1/segments/${encodeURIComponent(id)}`,
        { labels: splitList(labels) },
      );
      if (opts.json) printJson(s);
      else process.stdout.write(`Segment ${s.id}: labels ${s.labels.join(', ') || 'none'}\n`);
    }),
  );
  withConnection(
    group
      .command('delete <id>')
      .description(
        'Delete a segment no dataflow activates (refused, naming the dataflows, while one does: remove it from ' +
          'them first with `tca dataflows update <dataflow> --remove-segment <id>`)',
      )
      .addHelpText('after', examples(['tca segments delete seg-crm'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      await api.request('DELETE', `/api/v1/segments/${encodeURIComponent(id)}`);
      if (opts.json) printJson({ deleted: id });
      else process.stdout.write(`Deleted segment ${id}\n`);
    }),
  );
}
