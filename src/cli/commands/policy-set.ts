import type { Command } from 'commander';
import {
  action,
  CliError,
  connect,
  examples,
  EXIT,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

/** A policy of a set the service replaces whole. */
export interface SetPolicy {
  id: string;
  enabled: boolean;
}

/**
 * A set of policies behind one path that answers GET with `R` and takes `PUT { policies }` with the whole set: the
 * consent policies, or a sandbox's own data-usage policies.
 */
export interface PolicySet<R, P extends SetPolicy> {
  path: string;
  /** The `tca` command, e.g. `consent`, and an example id for help texts, e.g. `cp_…`. */
  command: string;
  exampleId: string;
  /** The policies that can change, out of a GET or PUT answer. */
  policiesOf(answer: R): P[];
  show(answer: R, opts: GlobalOptions): void;
  /** What `remove` says it does. */
  removeDescription: string;
}

/**
 * Reads the set, changes it with `edit`, writes it back and shows the answer; the service checks the whole set. An
 * id that `edit` names with `existing` and the set lacks ends the command with exit code 4.
 */
export async function changePolicySet<R, P extends SetPolicy>(
  set: PolicySet<R, P>,
  opts: GlobalOptions,
  edit: (policies: P[]) => unknown[],
): Promise<void> {
  const api = await connect(opts);
  const policies = set.policiesOf(await api.request<R>('GET', set.path));
  set.show(await api.request<R>('PUT', set.path, { policies: edit(policies) }), opts);
}

/** Registers `list`, `enable <id>`, `disable <id>` and `remove <id>` on the set's command group. */
export function registerPolicySetCommands<R, P extends SetPolicy>(
  group: Command,
  set: PolicySet<R, P>,
  listDescription: string,
): void {
  withConnection(
    group
      .command('list')
      .description(listDescription)
      .addHelpText('after', examples([`tca ${set.command} list`])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      set.show(await api.request<R>('GET', set.path), opts);
    }),
  );
  const existing = (policies: P[], id: string): void => {
    if (!policies.some((p) => p.id === id))
      throw new CliError(`No policy ${id} to change; see tca ${set.command} list`, EXIT.notFound);
  };
  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withConnection(
      group
        .command(`${verb} <id>`)
        .description(enabled ? 'Switch a policy on' : 'Switch a policy off (it is kept)')
        .addHelpText('after', examples([`tca ${set.command} ${verb} ${set.exampleId}`])),
    ).action(
      action(async (id: string, opts: GlobalOptions) =>
        changePolicySet(set, opts, (policies) => {
          existing(policies, id);
          return policies.map((p) => (p.id === id ? { ...p, enabled } : p));
        }),
      ),
    );
  }
  withConnection(
    group
      .command('remove <id>')
      .description(set.removeDescription)
      .addHelpText('after', examples([`tca ${set.command} remove ${set.exampleId}`])),
  ).action(
    action(async (id: string, opts: GlobalOptions) =>
      changePolicySet(set, opts, (policies) => {
        existing(policies, id);
        return policies.filter((p) => p.id !== id);
      }),
    ),
  );
}
