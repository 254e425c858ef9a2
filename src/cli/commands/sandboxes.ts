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

/** `tca sandboxes list|create`. */
export function registerSandboxesCommand(program: Command): void {
  const group = program.command('sandboxes').description('Sandboxes (every object and token belongs to one)');
  withConnection(
    group
      .command('list')
      .description('Sandboxes visible to the token')
      .addHelpText('after', examples(['tca sandboxes list'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>('GET', '/api/v1/sandboxes');
      if (opts.json) return printJson(r.items);
      printTable(r.items, ['name', 'current', 'createdAt']);
    }),
  );
  withConnection(
    group
      .command('create <name>')
      .description('Create a sandbox (needs Manage Sandboxes)')
      .addHelpText('after', examples(['tca sandboxes create staging'])),
  ).action(
    action(async (name: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const s = await api.request<Record<string, unknown>>('POST', '/api/v1/sandboxes', { name });
      if (opts.json) return printJson(s);
      process.stdout.write(
        `Created sandbox ${name}; create its tokens with: tca tokens create --sandbox ${name} …\n`,
      );
    }),
  );
}
