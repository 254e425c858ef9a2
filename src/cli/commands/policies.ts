import type { Command } from 'commander';
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

interface OwnPolicy {
  id: string;
  name: string;
  action: string;
  labels: string[];
  enabled: boolean;
}

interface Policies {
  core: Array<{ name: string; action: string | null; labels: string[] }>;
  custom: OwnPolicy[];
}

const PATH = '/api/v1/data-usage-policies';

/** `tca policies list|add|enable|disable|remove`: the data-usage policies, the sandbox's own ones editable. */
export function registerPoliciesCommand(program: Command): void {
  const group = program
    .command('policies')
    .description(
      'Data-usage policies: each forbids a marketing action on segments with certain labels (the core ones, and ' +
        "the sandbox's own)",
    );
  const show = (policies: Policies, opts: GlobalOptions) => {
    if (opts.json) return printJson(policies);
    printTable(
      [
        ...policies.core.map((p) => ({
          id: '(core)',
          name: p.name,
          action: p.action ?? 'every activation to X',
          labels: p.labels.join(','),
          enabled: true,
        })),
        ...policies.custom.map((p) => ({ ...p, labels: p.labels.join(',') })),
      ],
      ['id', 'name', 'action', 'labels', 'enabled'],
    );
  };
  /** Reads the sandbox's own policies, changes them, writes them back; the service checks the activations in place. */
  const change = async (
    opts: GlobalOptions,
    edit: (own: OwnPolicy[]) => Array<Omit<OwnPolicy, 'id' | 'enabled'> & Partial<OwnPolicy>>,
  ) => {
    const api = await connect(opts);
    const { custom } = await api.request<Policies>('GET', PATH);
    show(await api.request<Policies>('PUT', PATH, { policies: edit(custom) }), opts);
  };
  const existing = (own: OwnPolicy[], id: string): OwnPolicy => {
    const found = own.find((p) => p.id === id);
    if (!found) throw new CliError(`No policy ${id} of this sandbox; see tca policies list`, EXIT.notFound);
    return found;
  };

  withConnection(
    group
      .command('list')
      .description("The core policies and the sandbox's own")
      .addHelpText('after', examples(['tca policies list'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      show(await api.request<Policies>('GET', PATH), opts);
    }),
  );
  withConnection(
    group
      .command('add <name>')
      .description("Add a policy of the sandbox's own; refused when an activation in place already breaks it")
      .requiredOption('--action <action>', 'the marketing action it forbids, e.g. "Cross Site Targeting"')
      .requiredOption('--labels <labels>', 'comma-separated labels, e.g. C5,MY-SCORE')
      .option('--disabled', 'add it switched off')
      .addHelpText(
        'after',
        examples([
          'tca policies add "Scores stay out of targeting" --action "Cross Site Targeting" --labels MY-SCORE',
        ]),
      ),
  ).action(
    action(
      async (name: string, opts: GlobalOptions & { action: string; labels: string; disabled?: boolean }) =>
        change(opts, (own) => [
          ...own,
          { name, action: opts.action, labels: splitList(opts.labels), enabled: !opts.disabled },
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
        .description(enabled ? 'Switch a policy on' : 'Switch a policy off (it is kept)')
        .addHelpText('after', examples([`tca policies ${verb} dup_…`])),
    ).action(
      action(async (id: string, opts: GlobalOptions) =>
        change(opts, (own) => {
          existing(own, id);
          return own.map((p) => (p.id === id ? { ...p, enabled } : p));
        }),
      ),
    );
  }
  withConnection(
    group
      .command('remove <id>')
      .description("Delete a policy of the sandbox's own")
      .addHelpText('after', examples(['tca policies remove dup_…'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) =>
      change(opts, (own) => {
        existing(own, id);
        return own.filter((p) => p.id !== id);
      }),
    ),
  );
}
