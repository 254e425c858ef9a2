import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { describeFlush } from '../../server/flush-summary.ts';
import type { FlushResultView } from '../../server/backend.ts';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  wholeNumber,
  withConnection,
  CliError,
  EXIT,
  type GlobalOptions,
} from './api-client.ts';

interface Dataflow {
  id: string;
  name: string;
  destinationId: string;
  status: string;
  statusReason: string | null;
  mapping: Array<{ sourceType: string; source: string; target: string; applyTransformation: boolean }>;
  audiences: Array<{
    segmentId: string;
    mappingName: string;
    startDate: string | null;
    endDate: string | null;
    removeMembersAtEnd?: boolean;
  }>;
  noDataAlertHours?: number | null;
  updatedAt?: string;
}

/** A `--file` request body: the JSON object in the file, or a usage error naming the file. */
async function readBodyFile(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`Cannot read ${path}: ${(e as Error).message}`, EXIT.usage);
  }
}

/** Parses `--map namespace:Email=email:hash` style rows. */
export function parseMapArg(spec: string): {
  sourceType: string;
  source: string;
  target: string;
  applyTransformation: boolean;
} {
  const m = /^(namespace|attribute):(.+)=([a-z_]+)(:hash)?$/.exec(spec);
  if (!m)
    throw new CliError(
      `--map "${spec}" must look like namespace:Email=email:hash or attribute:person.email=email:hash`,
      EXIT.usage,
    );
  return { sourceType: m[1]!, source: m[2]!, target: m[3]!, applyTransformation: m[4] !== undefined };
}

function printDataflow(d: Dataflow): void {
  process.stdout.write(
    `${d.id}  ${d.name}\n  destination: ${d.destinationId}\n  status: ${d.status}${d.statusReason ? ` (${d.statusReason})` : ''}\n  mapping:\n`,
  );
  for (const m of d.mapping)
    process.stdout.write(
      `    ${m.sourceType}:${m.source} → ${m.target}${m.applyTransformation ? ' (apply transformation)' : ''}\n`,
    );
  process.stdout.write('  audiences:\n');
  for (const a of d.audiences)
    process.stdout.write(
      `    ${a.segmentId} as "${a.mappingName}" from ${a.startDate ?? 'now'}${a.endDate ? ` to ${a.endDate}${a.removeMembersAtEnd ? ' (then members are removed)' : ''}` : ''}\n`,
    );
  if (d.noDataAlertHours)
    process.stdout.write(`  alerts when no profiles arrive for ${d.noDataAlertHours} hours\n`);
}

/** `--alert-no-data <hours|none>` as the API takes it. */
function noDataAlert(value: string | undefined): { noDataAlertHours?: number | null } {
  if (value === undefined) return {};
  if (value.trim().toLowerCase() === 'none') return { noDataAlertHours: null };
  // Not a number would travel as null, which clears the setting: refuse it here.
  if (!/^\s*\d+\s*$/.test(value))
    throw new CliError(
      `--alert-no-data "${value}" must be a whole number of hours (1–720) or none`,
      EXIT.usage,
    );
  return { noDataAlertHours: Number(value) };
}

const NO_DATA_ALERT_HELP =
  'alert (dataflow_no_data) when no profiles arrive for this many hours, 1–720 (a source that stopped sending)';

/** `tca dataflows list|create|show|plan|pause|resume|flush|delete`. */
export function registerDataflowsCommand(program: Command): void {
  const group = program
    .command('dataflows')
    .description('Activations: segments + mapping + schedule to a destination');

  withConnection(
    group
      .command('list')
      .description('List dataflows')
      .addHelpText('after', examples(['tca dataflows list'])),
  ).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      const r = await api.request<{ items: Dataflow[] }>('GET', '/api/v1/dataflows');
      if (opts.json) printJson(r.items);
      else
        printTable(
          r.items.map((d) => ({ ...d, audiences: d.audiences.length })) as unknown as Array<
            Record<string, unknown>
          >,
          ['id', 'name', 'destinationId', 'status', 'audiences'],
        );
    }),
  );

  withConnection(
    group
      .command('create')
      .description('Activate segments to a destination (every problem is reported at once)')
      .option('--file <json>', 'the whole request body as a JSON file (see POST /api/v1/dataflows)')
      .option('--name <name>', 'dataflow name')
      .option('--destination <id>', 'destination id')
      .option('--segment <id...>', 'segment ids to activate (mapping name = segment name)')
      .option(
        '--map <row...>',
        'mapping rows: namespace:Email=email:hash, namespace:Phone=phone_number:hash, attribute:loyalty.id=partner_user_id',
      )
      .option(
        '--max-batch-age <seconds>',
        'aggregation window, 60–28800 (default 900)',
        wholeNumber(60, 28_800),
      )
      .option('--alert-no-data <hours>', NO_DATA_ALERT_HELP)
      .option('--paused', 'create paused')
      .addHelpText(
        'after',
        examples([
          'tca dataflows create --name "CRM to X" --destination dst_123 --segment seg-1 seg-2 --map namespace:Email=email:hash',
          'tca dataflows create --file dataflow.json --json',
        ]),
      ),
  ).action(
    action(
      async (
        opts: GlobalOptions & {
          file?: string;
          name?: string;
          destination?: string;
          segment?: string[];
          map?: string[];
          maxBatchAge?: number;
          alertNoData?: string;
          paused?: boolean;
        },
      ) => {
        let body: Record<string, unknown>;
        if (opts.file) {
          body = await readBodyFile(opts.file);
        } else {
          if (!opts.name || !opts.destination || !opts.segment || !opts.map) {
            throw new CliError('Give --file, or --name, --destination, --segment and --map', EXIT.usage);
          }
          body = {
            name: opts.name,
            destinationId: opts.destination,
            mapping: opts.map.map(parseMapArg),
            audiences: opts.segment.map((segmentId) => ({ segmentId })),
            ...(opts.maxBatchAge !== undefined ? { maxBatchAgeSeconds: opts.maxBatchAge } : {}),
            ...noDataAlert(opts.alertNoData),
            ...(opts.paused ? { status: 'paused' } : {}),
          };
        }
        const api = await connect(opts);
        const d = await api.request<Dataflow>('POST', '/api/v1/dataflows', body);
        if (opts.json) printJson(d);
        else printDataflow(d);
      },
    ),
  );

  withConnection(
    group
      .command('update <id>')
      .description(
        'Change a dataflow: its name, aggregation window, mapping, or segments (added, removed, end dates); every problem is reported at once',
      )
      .option('--file <json>', 'the whole PATCH body as a JSON file (see PATCH /api/v1/dataflows/:id)')
      .option('--name <name>', 'dataflow name')
      .option('--max-batch-age <seconds>', 'aggregation window, 60–28800', wholeNumber(60, 28_800))
      .option('--alert-no-data <hours>', `${NO_DATA_ALERT_HELP}; \`none\` stops it`)
      .option('--map <row...>', 'mapping rows, replacing the mapping (as for create)')
      .option(
        '--add-segment <id...>',
        'segments to activate too (mapping name = segment name); one it activates already is left as it is',
      )
      .option(
        '--remove-segment <id...>',
        'segments to stop activating (their X audiences are deleted, unless --on-remove keep)',
      )
      .option(
        '--on-remove <delete|keep>',
        'what happens at X to the audiences of removed segments, and of the dataflow once deleted: delete (default) or keep',
      )
      .option(
        '--end <segment=date...>',
        'end date of a segment’s activation (YYYY-MM-DD), or `none` to remove it, e.g. seg-1=2027-01-31',
      )
      .addHelpText(
        'after',
        examples([
          'tca dataflows update df_123 --add-segment seg-3 --end seg-1=2027-01-31',
          'tca dataflows update df_123 --remove-segment seg-2 --max-batch-age 3600',
          'tca dataflows update df_123 --remove-segment seg-2 --on-remove keep    # the X audience stays',
          'tca dataflows update df_123 --alert-no-data 26    # fed by a daily export',
          'tca dataflows update df_123 --file patch.json --json',
        ]),
      ),
  ).action(
    action(
      async (
        id: string,
        opts: GlobalOptions & {
          file?: string;
          name?: string;
          maxBatchAge?: number;
          alertNoData?: string;
          map?: string[];
          addSegment?: string[];
          removeSegment?: string[];
          onRemove?: string;
          end?: string[];
        },
      ) => {
        const api = await connect(opts);
        let body: Record<string, unknown>;
        // The dataflow as it was, when read first: the answer then says whether the change changed anything.
        let current: Dataflow | undefined;
        if (opts.file) {
          body = await readBodyFile(opts.file);
        } else {
          const ends = (opts.end ?? []).map((spec) => {
            const m = /^([^=]+)=(\d{4}-\d{2}-\d{2}|none)$/.exec(spec);
            if (!m)
              throw new CliError(`--end "${spec}" must look like seg-1=2027-01-31 or seg-1=none`, EXIT.usage);
            return { segmentId: m[1]!, endDate: m[2] === 'none' ? null : m[2]! };
          });
          const touchesAudiences =
            (opts.addSegment?.length ?? 0) + (opts.removeSegment?.length ?? 0) + ends.length > 0;
          body = {
            ...(opts.name !== undefined ? { name: opts.name } : {}),
            ...(opts.maxBatchAge !== undefined ? { maxBatchAgeSeconds: opts.maxBatchAge } : {}),
            ...noDataAlert(opts.alertNoData),
            ...(opts.map !== undefined ? { mapping: opts.map.map(parseMapArg) } : {}),
          };
          if (opts.onRemove !== undefined) {
            if (opts.onRemove !== 'delete' && opts.onRemove !== 'keep')
              throw new CliError(`--on-remove "${opts.onRemove}" must be delete or keep`, EXIT.usage);
            body['onAudienceRemoval'] = opts.onRemove;
          }
          if (touchesAudiences) {
            // The audiences are replaced as a whole: start from what the dataflow activates now.
            current = await api.request<Dataflow>('GET', `/api/v1/dataflows/${encodeURIComponent(id)}`);
            const known = new Set(current.audiences.map((a) => a.segmentId));
            const named = [...(opts.removeSegment ?? []), ...ends.map((e) => e.segmentId)];
            const unknown = named.filter((segmentId) => !known.has(segmentId));
            if (unknown.length > 0)
              throw new CliError(
                `${id} does not activate ${unknown.join(', ')} (it activates ${[...known].join(', ')})`,
                EXIT.refused,
              );
            const removed = new Set(opts.removeSegment ?? []);
            // A segment it activates already is not added again: said, and left out of the change.
            const already = [...new Set((opts.addSegment ?? []).filter((s) => known.has(s)))];
            if (already.length > 0)
              process.stderr.write(
                `${id} already activates ${already.join(', ')}: not added again, nothing to change for ${already.length === 1 ? 'it' : 'them'}\n`,
              );
            const added = [...new Set((opts.addSegment ?? []).filter((s) => !known.has(s)))];
            if (removed.size + ends.length + added.length > 0)
              body['audiences'] = [
                ...current.audiences
                  .filter((a) => !removed.has(a.segmentId))
                  .map((a) => {
                    // What the service reports but does not take back (the X audience in use is read-only).
                    const { xAudienceId: _inUse, ...kept } = a as typeof a & { xAudienceId?: string | null };
                    const end = ends.find((e) => e.segmentId === a.segmentId);
                    return end ? { ...kept, endDate: end.endDate } : kept;
                  }),
                ...added.map((segmentId) => ({ segmentId })),
              ];
          }
          // Only segments it activates already were named: there is nothing to send.
          if (Object.keys(body).length === 0 && current !== undefined) {
            process.stderr.write(`Nothing changed: ${id} is as it was\n`);
            if (opts.json) printJson(current);
            else printDataflow(current);
            return;
          }
          if (Object.keys(body).length === 0)
            throw new CliError(
              'Nothing to change: give --name, --max-batch-age, --alert-no-data, --map, --add-segment, --remove-segment, --on-remove, --end or --file',
              EXIT.usage,
            );
        }
        const d = await api.request<Dataflow>('PATCH', `/api/v1/dataflows/${encodeURIComponent(id)}`, body);
        // A change of what is stored already is answered as it was (its updatedAt stays).
        if (current !== undefined && d.updatedAt === current.updatedAt)
          process.stderr.write(`Nothing changed: ${id} already had these settings\n`);
        if (opts.json) printJson(d);
        else printDataflow(d);
      },
    ),
  );

  withConnection(
    group
      .command('show <id>')
      .description('Show a dataflow')
      .addHelpText('after', examples(['tca dataflows show df_123'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const d = await api.request<Dataflow>('GET', `/api/v1/dataflows/${encodeURIComponent(id)}`);
      if (opts.json) printJson(d);
      else printDataflow(d);
    }),
  );

  withConnection(
    group
      .command('plan <id>')
      .description('Dry run: what the next delivery would do')
      .addHelpText('after', examples(['tca dataflows plan df_123 --json'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const p = await api.request<{
        audiences: Array<Record<string, unknown>>;
        totals: Record<string, number | string | null>;
      }>('GET', `/api/v1/dataflows/${encodeURIComponent(id)}/plan`);
      if (opts.json) return printJson(p);
      printTable(
        p.audiences.map((a) => ({
          ...a,
          consentPolicies: ((a['consentPolicies'] as Array<{ name: string }> | undefined) ?? [])
            .map((c) => c.name)
            .join(', '),
        })),
        [
          'mappingName',
          'action',
          'xAudienceId',
          'pendingAdds',
          'pendingRemoves',
          'requests',
          'nextDeliveryAt',
          'nextDeliveryReason',
          'consentPolicies',
        ],
      );
      const next = p.totals['nextDeliveryAt'];
      process.stdout.write(
        `total: +${p.totals['pendingAdds'] ?? 0} −${p.totals['pendingRemoves'] ?? 0} in ${p.totals['requests'] ?? 0} request(s)` +
          `${typeof next === 'string' ? `; the first go out by ${next}` : ''}\n`,
      );
    }),
  );

  for (const [verb, status, text] of [
    ['pause', 'paused', 'Pause deliveries (changes keep accumulating)'],
    ['resume', 'active', 'Resume deliveries'],
  ] as const) {
    withConnection(
      group
        .command(`${verb} <id>`)
        .description(text)
        .addHelpText('after', examples([`tca dataflows ${verb} df_123`])),
    ).action(
      action(async (id: string, opts: GlobalOptions) => {
        const api = await connect(opts);
        const d = await api.request<Dataflow>('PATCH', `/api/v1/dataflows/${encodeURIComponent(id)}`, {
          status,
        });
        if (opts.json) printJson(d);
        else process.stdout.write(`${d.id} is ${d.status}\n`);
      }),
    );
  }

  withConnection(
    group
      .command('flush <id>')
      .description(
        'Deliver pending changes now; exits 1 when an audience did not deliver (paused, retrying or failed)',
      )
      .option(
        '--wait <seconds>',
        'how long to wait for the deliveries to finish (0–300); past it they go on in the background',
        wholeNumber(0, 300),
        300,
      )
      .addHelpText('after', examples(['tca dataflows flush df_123', 'tca dataflows flush df_123 --wait 0'])),
  ).action(
    action(async (id: string, opts: GlobalOptions & { wait: number }) => {
      const api = await connect(opts);
      const r = await api.request<FlushResultView>(
        'POST',
        `/api/v1/dataflows/${encodeURIComponent(id)}/flush?wait=${opts.wait}`,
      );
      if (opts.json) printJson(r);
      else process.stdout.write(`${describeFlush(r)}\n`);
      // A flush that left an audience undelivered (paused on a 401, say) is no success for a cron job or CI step.
      return r.status === 'incomplete' ? EXIT.refused : EXIT.ok;
    }),
  );

  withConnection(
    group
      .command('delete <id>')
      .description('Delete a dataflow (its X audiences are deleted)')
      .addHelpText('after', examples(['tca dataflows delete df_123'])),
  ).action(
    action(async (id: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      await api.request('DELETE', `/api/v1/dataflows/${encodeURIComponent(id)}`);
      if (opts.json) printJson({ deleted: id });
      else process.stdout.write(`Deleted ${id}\n`);
    }),
  );
}
