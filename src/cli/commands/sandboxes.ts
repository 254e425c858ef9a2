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

/** `tca sandboxes list|create|profile-keys`. */
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
  withConnection(
    group
      .command('profile-keys')
      .description(
        "How the token's sandbox keys profiles (the identity namespaces a profile key comes from); --set changes them " +
          'while the sandbox holds no profile',
      )
      .option('--set <namespaces>', 'comma-separated, in order of preference, e.g. CustomerID,ECID')
      .option('--default', 'return to the default (ECID, then CRMID)')
      .addHelpText(
        'after',
        examples(['tca sandboxes profile-keys', 'tca sandboxes profile-keys --set CustomerID,ECID']),
      ),
  ).action(
    action(async (opts: GlobalOptions & { set?: string; default?: boolean }) => {
      const api = await connect(opts);
      const keys =
        opts.set !== undefined || opts.default
          ? await api.request<ProfileKeys>('PATCH', '/api/v1/profile-keys', {
              namespaces: opts.default ? null : splitList(opts.set!),
            })
          : await api.request<ProfileKeys>('GET', '/api/v1/profile-keys');
      if (opts.json) return printJson(keys);
      process.stdout.write(
        `Profiles are keyed by the first of: ${keys.namespaces.join(', ')}${keys.isDefault ? ' (the default)' : ''}\n` +
          (keys.fixed
            ? 'Fixed: the sandbox holds profiles keyed this way.\n'
            : 'Not fixed yet: it can change until the first profile arrives.\n'),
      );
    }),
  );
}

interface ProfileKeys {
  namespaces: string[];
  isDefault: boolean;
  fixed: boolean;
}
