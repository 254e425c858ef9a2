import type { Command } from 'commander';
import {
  CONSENT_ATTRIBUTES,
  CONSENT_VALUES,
  type ConsentConditionInput,
  type ConsentPolicy,
} from '../../audience/consent.ts';
import type { ConsentPreview } from '../../engine/consent-settings.ts';
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
import { changePolicySet, registerPolicySetCommands, type PolicySet } from './policy-set.ts';

const CONSENT: PolicySet<{ policies: ConsentPolicy[] }, ConsentPolicy> = {
  path: '/api/v1/consent-policies',
  command: 'consent',
  exampleId: 'cp_…',
  policiesOf: (answer) => answer.policies,
  show({ policies }, opts) {
    if (opts.json) return printJson(policies);
    printTable(
      policies.map((p) => ({
        ...p,
        marketingActions: p.marketingActions.join(', '),
        labels:
          p.labels.length === 0
            ? ''
            : `${p.labels.join(',')}${p.marketingActions.length > 0 ? ` (${p.operator})` : ''}`,
        allowedValues: p.allowedValues.join(','),
        or: p.alternatives.map((c) => `${c.attribute}=${c.allowedValues.join(',')}`).join(' | '),
      })),
      ['id', 'name', 'marketingActions', 'labels', 'attribute', 'allowedValues', 'or', 'enabled'],
    );
  },
  removeDescription: 'Delete a policy; the audiences it held back are evaluated again',
};

/** `tca consent list|add|enable|disable|remove`: the sandbox's consent policies (read, change one, write the set). */
export function registerConsentCommand(program: Command): void {
  const group = program
    .command('consent')
    .description(
      "Consent policies: a profile is exported to a destination used for a policy's marketing actions (and/or " +
        "an activation whose segment or mapped fields carry the policy's labels) only when its consent attribute " +
        'holds an allowed value',
    );
  withConnection(
    group
      .command('add <name>')
      .description('Add a policy; the audiences of the destinations it applies to are evaluated again')
      .option('--actions <actions>', 'comma-separated marketing actions, e.g. "Cross Site Targeting"')
      .option(
        '--labels <labels>',
        'comma-separated data-usage labels of segments or mapped fields the policy applies through, e.g. C9',
      )
      .option(
        '--operator <and|or>',
        'with both --actions and --labels: both must match (and, the default) or either',
      )
      .requiredOption('--attribute <path>', `the consent attribute: ${CONSENT_ATTRIBUTES.join(', ')}`)
      .option('--allow <values>', `allowed values (default y): ${CONSENT_VALUES.join(', ')}`)
      .option(
        '--or <attribute[=values]>',
        'an alternative that also lets a profile through (repeatable; values default to y)',
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option('--disabled', 'add it switched off')
      .addHelpText(
        'after',
        examples([
          'tca consent add "Ads need sharing consent" --actions "Cross Site Targeting" --attribute consents.share.val',
          'tca consent add "Email opt-in" --actions "Email Targeting" --attribute consents.marketing.email.val --allow y,dy',
          'tca consent add "Email or all marketing" --actions "Email Targeting" --attribute consents.marketing.email.val --or consents.marketing.any.val=y,dy',
          'tca consent add "Health data needs sharing consent" --labels C9 --attribute consents.share.val',
        ]),
      ),
  ).action(
    action(
      async (
        name: string,
        opts: GlobalOptions & {
          actions?: string;
          labels?: string;
          operator?: string;
          attribute: string;
          allow?: string;
          or: string[];
          disabled?: boolean;
        },
      ) =>
        changePolicySet(CONSENT, opts, (policies) => [
          ...policies,
          {
            name,
            marketingActions: splitList(opts.actions ?? ''),
            labels: splitList(opts.labels ?? ''),
            ...(opts.operator !== undefined ? { operator: opts.operator } : {}),
            attribute: opts.attribute,
            ...(opts.allow !== undefined ? { allowedValues: splitList(opts.allow) } : {}),
            alternatives: opts.or.map(alternativeOf),
            enabled: !opts.disabled,
          },
        ]),
    ),
  );
  registerPolicySetCommands(group, CONSENT, "The sandbox's consent policies");
  withConnection(
    group
      .command('preview')
      .description(
        'How many known profiles the consent policies keep: those that apply to an activation to the destination ' +
          '(every policy on its own without one), over all profiles and each segment',
      )
      .option('--destination <id>', 'the destination the activation would use')
      .option('--segments <ids>', 'comma-separated segment ids to count the known members of')
      .option(
        '--fields <fields>',
        'comma-separated fields the mapping exports, as namespace:<namespace> or attribute:<path> (for policies on labels)',
      )
      .addHelpText(
        'after',
        examples([
          'tca consent preview',
          'tca consent preview --destination dst_… --segments seg-loyal,seg-churn --fields namespace:Email',
        ]),
      ),
  ).action(
    action(async (opts: GlobalOptions & { destination?: string; segments?: string; fields?: string }) => {
      const api = await connect(opts);
      const query = new URLSearchParams();
      if (opts.destination !== undefined) query.set('destinationId', opts.destination);
      if (opts.segments !== undefined) query.set('segmentIds', splitList(opts.segments).join(','));
      if (opts.fields !== undefined) query.set('fields', splitList(opts.fields).join(','));
      const preview = await api.request<ConsentPreview>(
        'GET',
        `/api/v1/consent-policies/preview${query.size > 0 ? `?${query.toString()}` : ''}`,
      );
      if (opts.json) return printJson(preview);
      // A policy switched off leaves nobody out yet: its count says whom it would, once switched on.
      const names = new Map(
        preview.policies.map((p) => [p.id, p.enabled ? p.name : `${p.name} (switched off: would leave out)`]),
      );
      const rows = [
        { scope: 'all known profiles', ...preview.all },
        ...preview.segments.map((s) => ({ scope: s.segmentId, ...s })),
      ];
      printTable(
        rows.map((r) => ({
          scope: r.scope,
          profiles: r.profiles,
          consenting: r.consenting,
          'left out by': r.denied
            .map((d) => `${names.get(d.policyId) ?? d.policyId}: ${d.profiles}`)
            .join('; '),
        })),
        ['scope', 'profiles', 'consenting', 'left out by'],
      );
    }),
  );
}

/** `attribute[=values]` as a condition; the service checks both. */
function alternativeOf(text: string): ConsentConditionInput {
  const at = text.indexOf('=');
  return at === -1
    ? { attribute: text.trim() }
    : { attribute: text.slice(0, at).trim(), allowedValues: splitList(text.slice(at + 1)) };
}
