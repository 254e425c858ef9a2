import type { Command } from 'commander';
import { CONSENT_ATTRIBUTES, CONSENT_VALUES } from '../../audience/consent.ts';
import {
  action,
  CliError,
  connect,
  examples,
  EXIT,
  printJson,
  printTable,
  splitList,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

interface Policy {
  id: string;
  name: string;
  marketingActions: string[];
  attribute: string;
  allowedValues: string[];
  enabled: boolean;
}

const PATH = '/api/v1/consent-policies';

/** `tca consent list|add|enable|disable|remove`: the sandbox's consent policies (read, change one, write the set). */
export function registerConsentCommand(program: Command): void {
  const group = program
    .command('consent')
    .description(
      "Consent policies: a profile is exported to a destination used for a policy's marketing actions only when " +
        'its consent attribute holds an allowed value',
    );
  const show = (policies: Policy[], opts: GlobalOptions) => {
    if (opts.json) return printJson(policies);
    printTable(
      policies.map((p) => ({
        ...p,
        marketingActions: p.marketingActions.join(', '),
        allowedValues: p.allowedValues.join(','),
      })),
      ['id', 'name', 'marketingActions', 'attribute', 'allowedValues', 'enabled'],
    );
  };
  /** Reads the set, changes it, writes it back; the service checks it and evaluates the audiences again. */
  const change = async (
    opts: GlobalOptions,
    edit: (policies: Policy[]) => Policy[] | Array<Partial<Policy>>,
  ) => {
    const api = await connect(opts);
    const { policies } = await api.request<{ policies: Policy[] }>('GET', PATH);
    const next = await api.request<{ policies: Policy[] }>('PUT', PATH, { policies: edit(policies) });
    show(next.policies, opts);
  };
  const existing = (policies: Policy[], id: string): Policy => {
    const found = policies.find((p) => p.id === id);
    if (!found) throw new CliError(`No consent policy ${id}; see tca consent list`, EXIT.notFound);
    return found;
  };

  withConnection(
    group
      .command('list')
      .description("The sandbox's consent policies")
      .addHelpText('after', examples(['tca consent list'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      show((await api.request<{ policies: Policy[] }>('GET', PATH)).policies, opts);
    }),
  );
  withConnection(
    group
      .command('add <name>')
      .description('Add a policy; the audiences of the destinations it applies to are evaluated again')
      .requiredOption('--actions <actions>', 'comma-separated marketing actions, e.g. "Cross Site Targeting"')
      .requiredOption('--attribute <path>', `the consent attribute: ${CONSENT_ATTRIBUTES.join(', ')}`)
      .option('--allow <values>', `allowed values (default y): ${CONSENT_VALUES.join(', ')}`)
      .option('--disabled', 'add it switched off')
      .addHelpText(
        'after',
        examples([
          'tca consent add "Ads need sharing consent" --actions "Cross Site Targeting" --attribute consents.share.val',
          'tca consent add "Email opt-in" --actions "Email Targeting" --attribute consents.marketing.email.val --allow y,dy',
        ]),
      ),
  ).action(
    action(
      async (
        name: string,
        opts: GlobalOptions & { actions: string; attribute: string; allow?: string; disabled?: boolean },
      ) =>
        change(opts, (policies) => [
          ...policies,
          {
            name,
            marketingActions: splitList(opts.actions),
            attribute: opts.attribute,
            ...(opts.allow !== undefined ? { allowedValues: splitList(opts.allow) } : {}),
            enabled: !opts.disabled,
          },
        ]),
    ),
  );
  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withConnection(
      group
        .command(`${verb} <id>`)
        .description(`${enabled ? 'Switch a policy on' : 'Switch a policy off (it is kept)'}`)
        .addHelpText('after', examples([`tca consent ${verb} cp_…`])),
    ).action(
      action(async (id: string, opts: GlobalOptions) =>
        change(opts, (policies) => {
          existing(policies, id);
          return policies.map((p) => (p.id === id ? { ...p, enabled } : p));
        }),
      ),
    );
  }
  withConnection(
    group
      .command('remove <id>')
      .description('Delete a policy; the audiences it held back are evaluated again')
      .addHelpText('after', examples(['tca consent remove cp_…'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) =>
      change(opts, (policies) => {
        existing(policies, id);
        return policies.filter((p) => p.id !== id);
      }),
    ),
  );
}
