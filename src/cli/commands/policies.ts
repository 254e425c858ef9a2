import type { Command } from 'commander';
import type { CustomPolicy, Policy } from '../../audience/governance.ts';
import {
  action,
  examples,
  printJson,
  printTable,
  splitList,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';
import { changePolicySet, registerPolicySetCommands, type PolicySet } from './policy-set.ts';

const DATA_USAGE: PolicySet<{ core: Policy[]; custom: CustomPolicy[] }, CustomPolicy> = {
  path: '/api/v1/data-usage-policies',
  command: 'policies',
  exampleId: 'dup_…',
  policiesOf: (answer) => answer.custom,
  show(policies, opts) {
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
  },
  removeDescription: "Delete a policy of the sandbox's own",
};

/** `tca policies list|add|enable|disable|remove`: the data-usage policies, the sandbox's own ones editable. */
export function registerPoliciesCommand(program: Command): void {
  const group = program
    .command('policies')
    .description(
      'Data-usage policies: each forbids a marketing action on segments with certain labels (the core ones, and ' +
        "the sandbox's own)",
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
        changePolicySet(DATA_USAGE, opts, (own) => [
          ...own,
          { name, action: opts.action, labels: splitList(opts.labels), enabled: !opts.disabled },
        ]),
    ),
  );
  registerPolicySetCommands(group, DATA_USAGE, "The core policies and the sandbox's own");
}
