import { Option, type Command } from 'commander';
import {
  action,
  connect,
  examples,
  printJson,
  printTable,
  wholeNumber,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';
import type { ImportView } from '../../server/backend.ts';
import { printRejected, printWarnings, truncationNote } from './import.ts';

/** `tca imports list|show`: file imports, where each stands, and the key that resumes an interrupted one. */
export function registerImportsCommand(program: Command): void {
  const group = program
    .command('imports')
    .description('File imports: status, rows written, reports (resume one with tca import --key)');

  withConnection(
    group
      .command('list')
      .description('List file imports, newest first')
      .option('--limit <n>', 'how many of the latest', wholeNumber(1, 500), 20)
      .addOption(
        new Option(
          '--status <status>',
          'only those in this state (interrupted and failed ones can be resumed)',
        ).choices(['running', 'interrupted', 'failed', 'complete']),
      )
      .addHelpText(
        'after',
        examples([
          'tca imports list',
          'tca imports list --status interrupted',
          'tca imports list --limit 100 --json',
        ]),
      ),
  ).action(
    action(async (opts: GlobalOptions & { limit: number; status?: ImportView['status'] }) => {
      const api = await connect(opts);
      const r = await api.request<{ imports: ImportView[] }>('GET', `/api/v1/imports?limit=${opts.limit}`);
      const imports =
        opts.status === undefined ? r.imports : r.imports.filter((i) => i.status === opts.status);
      if (opts.json) return printJson(imports);
      printTable(
        imports.map((i) => ({
          key: i.key,
          status: i.status,
          format: i.format,
          mode: i.mode,
          // Profiles read: the resume position (`rowsCommitted`) counts blank lines too.
          rows: i.report.rowsRead,
          accepted: i.report.accepted,
          rejected: i.report.rejectedCount,
          attempts: i.attempts,
          updated: i.updatedAt,
        })),
        ['key', 'status', 'format', 'mode', 'rows', 'accepted', 'rejected', 'attempts', 'updated'],
      );
    }),
  );

  withConnection(
    group
      .command('show <key>')
      .description('Show one import: its status, why it stopped, and its report so far')
      .addHelpText('after', examples(['tca imports show members-2026-11-29'])),
  ).action(
    action(async (key: string, opts: GlobalOptions) => {
      const api = await connect(opts);
      const i = await api.request<ImportView>('GET', `/api/v1/imports/${encodeURIComponent(key)}`);
      if (opts.json) return printJson(i);
      const r = i.report;
      process.stdout.write(
        `Import ${i.key}: ${i.status} (${i.format}, ${i.mode}${i.segmentId ? ` of ${i.segmentId}` : ''}), ` +
          `${i.attempts} attempt${i.attempts === 1 ? '' : 's'}\n` +
          `Rows read: ${r.rowsRead}\nAccepted: ${r.accepted}\nRejected: ${r.rejectedCount}\n` +
          `Resume position: ${i.rowsCommitted} ${i.format === 'json' ? 'items' : i.format === 'csv' ? 'records' : 'lines'} of the file written\n` +
          (i.mode === 'mirror' && i.status === 'complete' ? `Removed: ${r.removed}\n` : '') +
          (r.removalSkipped ? `Nobody removed: ${r.removalSkipped}\n` : '') +
          truncationNote({ ...r, mode: i.mode }) +
          `Started: ${i.createdAt}\nLast write: ${i.updatedAt}\n` +
          (i.finishedAt ? `Finished: ${i.finishedAt}\n` : '') +
          (i.error ? `Stopped: ${i.error}\n` : '') +
          (i.status === 'interrupted' || i.status === 'failed'
            ? `Resume: tca import FILE --dataflow ID --key ${i.key} (the same file and options)\n`
            : ''),
      );
      printRejected({ ...r, format: i.format });
      printWarnings(r);
    }),
  );
}
