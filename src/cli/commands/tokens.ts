import { Option, type Command } from 'commander';
import { PERMISSIONS } from '../../server/permissions.ts';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** `tca tokens create|list|revoke`. */
export function registerTokensCommand(program: Command): void {
  const group = program.command('tokens').description('API tokens (stored hashed; shown once)');
  withConnection(
    group
      .command('list')
      .description("List the sandbox's tokens")
      .addHelpText('after', examples(['tca tokens list'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Array<Record<string, unknown>> }>('GET', '/api/v1/tokens');
      if (opts.json) return printJson(r.items);
      printTable(
        r.items.map((t) => ({ ...t, permissions: (t['permissions'] as string[]).join(', ') })),
        ['id', 'name', 'sandbox', 'permissions', 'lastUsedAt', 'revokedAt'],
      );
    }),
  );
  withConnection(
    group
      .command('create')
      .description('Create a token; the secret is printed once')
      .requiredOption('--name <name>', 'what the token is for')
      .addOption(
        new Option('--permission <permission...>', 'permissions (quote names with spaces)')
          .choices(PERMISSIONS)
          .makeOptionMandatory(),
      )
      .option('--sandbox <name>', 'sandbox of the token (another sandbox needs Manage Sandboxes)')
      .addHelpText(
        'after',
        examples([
          'tca tokens create --name aep-stream --permission "Ingest Profiles"',
          'tca tokens create --name ops --permission "View Destinations" "View Segments" --json',
          'tca tokens create --name staging-admin --sandbox staging --permission "Manage Tokens" "Manage Destinations"',
        ]),
      ),
  ).action(
    action(async (opts: GlobalOptions & { name: string; permission: string[]; sandbox?: string }) => {
      const api = await connect(opts);
      const t = await api.request<Record<string, unknown>>('POST', '/api/v1/tokens', {
        name: opts.name,
        permissions: opts.permission,
        ...(opts.sandbox !== undefined ? { sandbox: opts.sandbox } : {}),
      });
      if (opts.json) return printJson(t);
      process.stdout.write(
        `Created token ${String(t['id'])} in sandbox ${String(t['sandbox'])}. The secret (shown once):\n${String(t['token'])}\n`,
      );
    }),
  );
  withConnection(
    group
      .command('revoke <id>')
      .description('Revoke a token')
      .addHelpText('after', examples(['tca tokens revoke tok_123'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      await api.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
      if (opts.json) return printJson({ revoked: id });
      process.stdout.write(`Revoked ${id}\n`);
    }),
  );
}
