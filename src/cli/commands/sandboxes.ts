import type { Command } from 'commander';
import {
  action,
  CliError,
  connect,
  EXIT,
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
        "How the token's sandbox keys profiles (the identity namespaces a profile key comes from). --set changes them; " +
          'once the sandbox holds profiles that re-keys it and needs --rekey: each profile takes its new key when it ' +
          'next arrives. --finish-rekey ends a re-keying, removing the profiles never met again or keeping them.',
      )
      .option('--set <namespaces>', 'comma-separated, in order of preference, e.g. CustomerID,ECID')
      .option('--default', 'return to the default (ECID, then CRMID)')
      .option('--rekey', 'with --set or --default, re-key a sandbox that holds profiles')
      .option('--finish-rekey', 'end the re-keying in progress (with --remove-remaining or --keep-remaining)')
      .option('--remove-remaining', 'profiles not met under the new keys leave every X audience')
      .option('--keep-remaining', 'profiles not met under the new keys stay as they are')
      .addHelpText(
        'after',
        examples([
          'tca sandboxes profile-keys',
          'tca sandboxes profile-keys --set CustomerID,ECID',
          'tca sandboxes profile-keys --set CRMID,ECID --rekey',
          'tca sandboxes profile-keys --finish-rekey --remove-remaining',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          set?: string;
          default?: boolean;
          rekey?: boolean;
          finishRekey?: boolean;
          removeRemaining?: boolean;
          keepRemaining?: boolean;
        },
      ) => {
        const change = opts.set !== undefined || opts.default === true;
        if (opts.finishRekey) {
          if (change || opts.removeRemaining === opts.keepRemaining)
            throw new CliError(
              '--finish-rekey takes exactly one of --remove-remaining and --keep-remaining, and no --set or --default',
              EXIT.usage,
            );
        } else if (opts.removeRemaining || opts.keepRemaining || (opts.rekey && !change)) {
          throw new CliError(
            '--remove-remaining and --keep-remaining go with --finish-rekey; --rekey with --set or --default',
            EXIT.usage,
          );
        }
        const api = await connect(opts);
        if (opts.finishRekey) {
          const done = await api.request<RekeyFinish>('POST', '/api/v1/profile-keys/rekey/finish', {
            removeRemaining: opts.removeRemaining === true,
          });
          if (opts.json) return printJson(done);
          process.stdout.write(
            `Re-keying ended. ${done.removedProfiles} profiles not met under the new keys left every audience ` +
              `(${done.removedMemberships} memberships, removed from X by the next delivery).\n`,
          );
          return printKeys(done.settings);
        }
        const keys = change
          ? await api
              .request<ProfileKeys>('PATCH', '/api/v1/profile-keys', {
                namespaces: opts.default ? null : splitList(opts.set!),
                ...(opts.rekey ? { rekey: true } : {}),
              })
              .catch((error: unknown) => {
                if (error instanceof CliError && !opts.rekey && /"rekey": true/.test(error.message))
                  throw new CliError(
                    `${error.message.replace(/ Send "rekey": true .*$/, '')} Add --rekey to re-key: each profile takes its new key when it next arrives.`,
                    error.exitCode,
                    error.details,
                  );
                throw error;
              })
          : await api.request<ProfileKeys>('GET', '/api/v1/profile-keys');
        if (opts.json) return printJson(keys);
        printKeys(keys);
      },
    ),
  );
}

interface ProfileKeys {
  namespaces: string[];
  isDefault: boolean;
  fixed: boolean;
  mergesAcrossNamespaces: boolean;
  rekey: { from: string[]; since: string; remaining: number } | null;
}

interface RekeyFinish {
  settings: ProfileKeys;
  removedProfiles: number;
  removedMemberships: number;
}

function printKeys(keys: ProfileKeys): void {
  process.stdout.write(
    `Profiles are keyed by the first of: ${keys.namespaces.join(', ')}${keys.isDefault ? ' (the default)' : ''}\n` +
      (keys.mergesAcrossNamespaces
        ? 'Some are keyed by a later namespace: an export naming ids of several speaks for their segments.\n'
        : '') +
      (keys.rekey
        ? `Re-keying from ${keys.rekey.from.join(', ')} since ${keys.rekey.since}: ${keys.rekey.remaining} profiles ` +
          'not met under the new keys yet (each moves when it next arrives).\n' +
          'End it with: tca sandboxes profile-keys --finish-rekey --remove-remaining (or --keep-remaining)\n'
        : keys.fixed
          ? 'The sandbox holds profiles keyed this way: --set … --rekey re-keys them.\n'
          : 'No profile yet: --set changes them freely until the first profile arrives.\n'),
  );
}
