import { Option, type Command } from 'commander';
import {
  action,
  connect,
  examples,
  percent,
  printJson,
  printTable,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

interface MonitoringRow extends Record<string, unknown> {
  name: string;
  status: string;
  activationRate: number | null;
  lastDeliveryAt: string | null;
  attention: string[];
}

interface Monitoring {
  from: string;
  to: string;
  summary: Record<string, number | null>;
  dataflows: MonitoringRow[];
}

/** `tca monitor`: every dataflow of the sandbox at a glance, as the console's Dataflows page shows them. */
export function registerMonitorCommand(program: Command): void {
  withConnection(
    program
      .command('monitor')
      .description(
        'Every dataflow at a glance over a window: received, activated, excluded, failed, activation rate, ' +
          'changes waiting now and when the next go out, last delivery, alerts firing, and why one needs a look',
      )
      .addOption(
        new Option('--range <window>', 'the window ending now').choices(['24h', '7d', '30d']).default('24h'),
      )
      .option('--from <iso>', 'a custom window: its start (instead of --range)')
      .option('--to <iso>', 'a custom window: its end (default: now)')
      .option('--attention', 'only the dataflows that need a look (paused, failures, alerts, not targetable)')
      .addHelpText(
        'after',
        examples([
          'tca monitor',
          'tca monitor --range 7d --attention',
          'tca monitor --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z --json',
        ]),
      ),
  ).action(
    action(
      async (opts: GlobalOptions & { range: string; from?: string; to?: string; attention?: boolean }) => {
        const api = await connect(opts);
        const q = new URLSearchParams({ range: opts.range });
        if (opts.from) q.set('from', opts.from);
        if (opts.to) q.set('to', opts.to);
        const r = await api.request<Monitoring>('GET', `/api/v1/monitoring?${q}`);
        const rows = opts.attention ? r.dataflows.filter((d) => d.attention.length > 0) : r.dataflows;
        if (opts.json) return printJson({ ...r, dataflows: rows });
        const s = r.summary;
        process.stdout.write(
          `${r.from} – ${r.to}: ${s['dataflows']} dataflow${s['dataflows'] === 1 ? '' : 's'}, ${s['needingAttention']} needing a look; ` +
            `${s['identitiesActivated']} identities activated, ${s['identitiesExcluded']} excluded, ` +
            `${s['identitiesFailed']} failed (activation rate ${percent(s['activationRate'])}); ` +
            `${s['pendingChanges']} changes waiting; ${s['alertsFiring']} alerts firing\n\n`,
        );
        printTable(
          rows.map((d) => ({
            ...d,
            activationRate: percent(d.activationRate),
            attention: d.attention.join(',') || '-',
          })),
          [
            'dataflowId',
            'name',
            'status',
            'profilesReceived',
            'identitiesActivated',
            'identitiesExcluded',
            'identitiesFailed',
            'activationRate',
            'pendingChanges',
            'nextDeliveryAt',
            'lastProfilesAt',
            'lastDeliveryAt',
            'alertsFiring',
            'attention',
          ],
        );
      },
    ),
  );
}
