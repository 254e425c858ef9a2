import { Readable } from 'node:stream';
import { Option, type Command } from 'commander';
import type pg from 'pg';
import type { ImportReportView } from '../../server/backend.ts';
import { finish, maxRejectedOption, maxRemovedOption, postImport } from './import.ts';
import { csvField } from '../../profile/index.ts';
import {
  action,
  connect,
  examples,
  handleResponse,
  wholeNumber,
  withConnection,
  CliError,
  EXIT,
  type GlobalOptions,
} from './api-client.ts';

interface ImportSqlOpts extends GlobalOptions {
  dataflow: string;
  query: string;
  sourceUrl?: string;
  mode: 'incremental' | 'mirror';
  segment?: string;
  keyNamespace?: string;
  maxRejected?: number;
  maxRemoved?: number;
  key?: string;
  fetch: number;
}

/**
 * The rows of a query as CSV (the header is the column names), read through a server-side cursor `fetch` rows at a
 * time inside a read-only transaction, so the result is never held whole and the query cannot change the source.
 */
export async function* queryAsCsv(
  client: pg.Client,
  query: string,
  fetch: number,
  onRows: (rows: number) => void = () => undefined,
): AsyncGenerator<Buffer> {
  await client.query('begin read only');
  try {
    await client.query(`declare tca_rows no scroll cursor for ${query}`);
    let header = false;
    let rows = 0;
    for (;;) {
      const page = await client.query({ text: `fetch forward ${fetch} from tca_rows`, rowMode: 'array' });
      if (!header) {
        yield Buffer.from(`${page.fields.map((f) => csvField(f.name)).join(',')}\n`);
        header = true;
      }
      if (page.rows.length === 0) break;
      yield Buffer.from((page.rows as unknown[][]).map((row) => `${row.map(csvField).join(',')}\n`).join(''));
      onRows((rows += page.rows.length));
    }
  } finally {
    await client.query('rollback').catch(() => undefined);
  }
}

/**
 * `tca import-sql`: a warehouse query's rows into the sandbox (the columns of a CSV import: profile_key, identity
 * columns, segment:<id> columns), streamed to the imports API; in mirror mode the result is the whole segment, so a
 * scheduled run keeps the X audience equal to the query.
 */
export function registerImportSqlCommand(program: Command): void {
  withConnection(
    program
      .command('import-sql')
      .description(
        'Import the rows of a SQL query on a PostgreSQL-compatible warehouse, as a CSV import (columns profile_key, email, …, segment:<id>)',
      )
      .requiredOption('--dataflow <id>', 'the dataflow the rows feed (its sandbox is used)')
      .requiredOption('--query <sql>', 'a SELECT whose columns are named as a CSV import header')
      .option(
        '--source-url <url>',
        'the warehouse: postgres://user@host/db (default: TCA_SOURCE_DATABASE_URL, which keeps the password off the command line)',
      )
      .addOption(
        new Option('--mode <mode>', 'incremental, or mirror (the rows are the whole segment)')
          .choices(['incremental', 'mirror'])
          .default('incremental'),
      )
      .option('--segment <id>', 'mirror mode: the segment the rows hold in full')
      .addOption(maxRejectedOption())
      .addOption(maxRemovedOption())
      .option(
        '--key-namespace <namespace>',
        'the identity namespace of the profile_key column (default CRMID)',
      )
      .option('--key <key>', 'the import key (default: a new one each run)')
      .option('--fetch <rows>', 'rows read from the warehouse at a time', wholeNumber(1, 1_000_000), 10_000)
      .addHelpText(
        'after',
        examples([
          `TCA_SOURCE_DATABASE_URL=postgres://reader@warehouse/crm tca import-sql --dataflow df_123 \\
    --query "select crm_id as profile_key, email, 1 as \\"segment:seg-vip\\" from vip_customers" \\
    --mode mirror --segment seg-vip`,
        ]),
      ),
  ).action(
    action(async (opts: ImportSqlOpts) => {
      const sourceUrl = opts.sourceUrl ?? process.env['TCA_SOURCE_DATABASE_URL'];
      if (!sourceUrl)
        throw new CliError('Name the warehouse: --source-url or TCA_SOURCE_DATABASE_URL', EXIT.usage);
      if (opts.mode === 'mirror' && !opts.segment)
        throw new CliError('--mode mirror needs --segment', EXIT.usage);
      const api = await connect(opts);
      await api.request('GET', `/api/v1/dataflows/${encodeURIComponent(opts.dataflow)}`);
      // Loaded here, not with the CLI: every other command starts without the PostgreSQL driver.
      const { default: pgDriver } = await import('pg');
      const client = new pgDriver.Client({ connectionString: sourceUrl });
      try {
        await client.connect();
      } catch (error) {
        throw new CliError(
          `Cannot reach the warehouse: ${error instanceof Error ? error.message : String(error)}`,
          EXIT.unavailable,
        );
      }
      try {
        let failure: unknown = null;
        const rows = queryAsCsv(client, opts.query, opts.fetch);
        // A query that fails ends the upload with its error: the service keeps nothing of a mirror then.
        const body = Readable.from(
          (async function* () {
            try {
              yield* rows;
            } catch (error) {
              failure = error;
              throw error;
            }
          })(),
        );
        let res: Response;
        try {
          res = await postImport(api, body, { ...opts, format: 'csv' });
        } catch (error) {
          if (failure !== null) throw queryFailed(failure);
          throw error;
        }
        if (failure !== null) throw queryFailed(failure);
        return finish(await handleResponse<ImportReportView>(res), opts, 'the result');
      } finally {
        await client.end();
      }
    }),
  );
}

function queryFailed(error: unknown): CliError {
  return new CliError(
    `The query failed: ${error instanceof Error ? error.message : String(error)} (nothing after the failure was imported; mirror mode removed nobody)`,
    EXIT.refused,
  );
}
