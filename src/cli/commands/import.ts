import { createHash, randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../config/index.ts';
import type { ImportReport } from '../../engine/index.ts';
import { fileFormatOf, type FileFormat } from '../../profile/file-format.ts';
import { importBody, type BodySource, type LineLocator } from './import-body.ts';
import { resolvePart, type Part } from './import-source.ts';
import {
  action,
  connect,
  wholeNumber,
  examples,
  handleResponse,
  printJson,
  withConnection,
  CliError,
  EXIT,
  type Api,
  type GlobalOptions,
} from './api-client.ts';

interface ImportOpts extends GlobalOptions {
  dataflow: string;
  format?: FileFormat;
  mode: 'incremental' | 'mirror';
  segment?: string;
  keyNamespace?: string;
  maxRejected?: number;
  maxRemoved?: number;
  local?: boolean;
  batch?: string;
  retries: number;
  key?: string;
}

function progressBar(
  total: number | null,
  enabled: boolean,
): { update(bytes: number, rows?: number): void; stop(): void } {
  if (!enabled || total === null) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: 'importing [{bar}] {percentage}% | {rows} rows | {eta_formatted} left', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rows: 0 });
  let rows = 0;
  return {
    update: (bytes, r) => {
      if (r !== undefined) rows = r;
      bar.update(bytes, { rows });
    },
    stop: () => bar.stop(),
  };
}

/**
 * `tca import FILE --dataflow ID`: loads a file of profile exports. The file streams to the imports API in one
 * request under its import key (a Parquet file as the CSV it reads as), resuming by itself when an upload stops
 * short; `--local` runs the import in this process against the store, for files on the service's machine.
 */
export function registerImportCommand(program: Command): void {
  withConnection(
    program
      .command('import <files...>')
      .description(
        'Import profile exports from a file (NDJSON, JSON array or CSV, plain or gzip; or Parquet with CSV columns), ' +
          'or from the parts of one export as one file; each a path or an http(s) URL (a signed cloud storage URL), ' +
          'or - for standard input (with --format)',
      )
      .requiredOption('--dataflow <id>', 'the dataflow the file feeds (its sandbox is used)')
      .addOption(
        new Option('--format <format>', 'file format (default: from the extension)').choices([
          'ndjson',
          'json',
          'csv',
          'parquet',
        ]),
      )
      .addOption(
        new Option('--mode <mode>', 'incremental, or mirror (the file is the whole segment)')
          .choices(['incremental', 'mirror'])
          .default('incremental'),
      )
      .option('--segment <id>', 'mirror mode: the segment the file holds in full')
      .addOption(maxRejectedOption())
      .addOption(maxRemovedOption())
      .option(
        '--key-namespace <namespace>',
        'CSV: the identity namespace of the profile_key column (default CRMID)',
      )
      .option(
        '--local',
        'import in this process against TCA_DATA_DIR / TCA_DATABASE_URL instead of over HTTP',
      )
      .option(
        '--batch <n>',
        'with --local: rows per transaction (default 20000); uploads are batched by the service',
      )
      .option(
        '--retries <n>',
        'times an upload that stops short (a dropped connection, a restart of the service) is resumed by itself',
        wholeNumber(0, 100),
        5,
      )
      .option(
        '--key <key>',
        'the import key: running the command again with it resumes an interrupted import (default: made from the ' +
          "file's path, size and modification time, or a URL's object and ETag, and the options, so the same " +
          'command resumes by itself; standard input gets a new key each run)',
      )
      .addHelpText(
        'after',
        examples([
          'tca import profiles.ndjson --dataflow df_123',
          'tca import members.csv --dataflow df_123 --mode mirror --segment 7841ba61-23c1-4bb3-a495-00d3a4e3e0d5',
          'tca import members.csv --dataflow df_123 --local',
          'tca import export.json --dataflow df_123 --json > report.json',
          'tca import members.csv --dataflow df_123 --key members-2026-11-29',
          'tca import export.ndjson.gz --dataflow df_123',
          'tca import members.parquet --dataflow df_123 --mode mirror --segment 7841ba61-23c1-4bb3-a495-00d3a4e3e0d5',
          'tca import export/part-*.parquet --dataflow df_123 --mode mirror --segment 7841ba61-23c1-4bb3-a495-00d3a4e3e0d5',
          'tca import "$(aws s3 presign s3://exports/members/part-0000.csv.gz)" --dataflow df_123',
          'gsutil cat gs://exports/members.csv.gz | tca import - --format csv --dataflow df_123 --key members-2026-11-29',
        ]),
      ),
  ).action(
    action(async (files: string[], opts: ImportOpts) => {
      const parts: Part[] = [];
      for (const file of files) parts.push(await resolvePart(file));
      const stdin = parts.some((part) => part.kind === 'stdin');
      if (stdin && parts.length > 1)
        throw new CliError('Standard input (-) is imported on its own, not with other files', EXIT.usage);
      if (stdin && opts.format === undefined)
        throw new CliError(
          'Name the format of standard input with --format (ndjson, json or csv; gzip is recognized by itself)',
          EXIT.usage,
        );
      if (stdin && opts.format === 'parquet')
        throw new CliError(
          'Parquet is read from its footer, so it cannot come from standard input: save it to a file, or give a ' +
            'signed URL of it',
          EXIT.usage,
        );
      const formats = new Set(parts.map((part) => opts.format ?? fileFormatOf(part.name)));
      if (formats.size > 1)
        throw new CliError(
          `The files are of different formats (${[...formats].join(', ')}): import them one format at a time`,
          EXIT.usage,
        );
      const format = [...formats][0]!;
      if (opts.mode === 'mirror' && !opts.segment)
        throw new CliError('--mode mirror needs --segment', EXIT.usage);
      const batch = opts.batch === undefined ? undefined : Number(opts.batch);
      if (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > 100_000))
        throw new CliError('--batch must be 1..100000', EXIT.usage);
      const tty = Boolean(process.stderr.isTTY) && !opts.json;
      if (opts.key !== undefined && (opts.key.length === 0 || opts.key.length > 200))
        throw new CliError('--key must be 1–200 characters', EXIT.usage);
      // Standard input has no name to make a key from: each run is a new import, unless --key names one.
      const key =
        opts.key ??
        (stdin
          ? `stdin-${randomUUID()}`
          : fileKey(parts, [format, opts.mode, opts.segment, opts.keyNamespace], allowances(opts)));
      const size = parts.reduce<number | null>(
        (sum, part) => (sum === null || part.size === null ? null : sum + part.size),
        0,
      );

      if (stdin && process.stdin.isTTY)
        process.stderr.write('Reading the file from the terminal: end it with Ctrl-D (or pipe it in)\n');
      if (stdin && opts.key === undefined)
        process.stderr.write(
          `Importing standard input under the key ${key}: if the import stops short, send the same input with ` +
            `--key ${key} and the rows written are skipped\n`,
        );

      if (opts.local && parts.length === 1 && parts[0]!.kind === 'file') {
        const report = await importLocal(parts[0]!.name, { ...opts, format, batch, key }, size, tty);
        return finish(report, opts);
      }
      // Checked before anything is sent: Parquet readable, the parts of one shape.
      const { body, locate } = await importBody(parts, format);
      // Parquet goes as the CSV it reads as.
      const sent = format === 'parquet' ? 'csv' : format;
      const source = parts.length > 1 ? 'the files' : 'the file';
      if (opts.local) {
        const report = await importLocal(parts, { ...opts, format: sent, batch, key }, size, tty, body);
        return finish(report, opts, source, report.rejected.length > 0 ? await locate() : undefined);
      }
      if (batch !== undefined)
        process.stderr.write(
          '--batch sets rows per transaction with --local; the service batches uploads itself\n',
        );
      // Standard input cannot be read again: an upload that stops short is resumed by running the command again.
      const retries = stdin ? 0 : opts.retries;
      // One file is named by its name in the service's messages; parts joined are "the upload".
      const name = parts.length === 1 && parts[0]!.kind !== 'stdin' ? basename(parts[0]!.name) : undefined;
      const report = await uploadRemote(body, { ...opts, format: sent, key, retries, name }, size, tty);
      return finish(report, opts, source, report.rejected.length > 0 ? await locate() : undefined);
    }),
  );
}

type Report = Pick<
  ImportReport,
  'rowsRead' | 'accepted' | 'excluded' | 'rejectedCount' | 'rejected' | 'removed'
> & {
  removalSkipped?: string | null;
  truncated?: boolean;
  /** Absent from the reports of services before them. */
  warnings?: ReadonlyArray<{ message: string }>;
} & {
  mode: string;
  format: string;
  key: string;
  attempts?: number;
  replayed?: boolean;
};

/**
 * The default import key: the same files, unchanged, at the same paths (or URLs, whatever their signature), imported
 * with the same options, get the same key (so the same command resumes the import); other options make another
 * import.
 */
function fileKey(
  parts: readonly Part[],
  options: ReadonlyArray<string | undefined>,
  extra: readonly string[] = [],
): string {
  const files = parts.flatMap((part) => [part.name, part.version]);
  const text = [...files, ...options.map((o) => o ?? ''), ...extra].join('\0');
  return `file-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/**
 * The mirror allowances given (`--max-rejected`, `--max-removed`), for the file's key: the same file imported again
 * allowing more is a new import, not the completed one that removed nobody. None given adds nothing, so keys made
 * before these options stay the same.
 */
function allowances(opts: Pick<ImportOpts, 'maxRejected' | 'maxRemoved'>): string[] {
  return [
    ...(opts.maxRejected !== undefined ? [`max-rejected:${opts.maxRejected}`] : []),
    ...(opts.maxRemoved !== undefined ? [`max-removed:${opts.maxRemoved}`] : []),
  ];
}

/**
 * The first 20 rejected rows with their line and problems, and how many more there are; each named by its file and
 * line there when it came from one of several files.
 */
export function printRejected(
  report: Pick<Report, 'rejected' | 'rejectedCount' | 'format'>,
  locate?: LineLocator,
): void {
  // A JSON array's rows are counted by element, not by line.
  const unit = report.format === 'json' ? 'item' : 'line';
  for (const r of report.rejected.slice(0, 20)) {
    const at = locate?.(r.line);
    const where = at ? `${at.path} ${unit} ${at.line}` : `${unit} ${r.line}`;
    // A row that cannot be read at all is its own path (`line 12`): said once.
    const problems = r.errors.map((e) =>
      [e.path === `line ${r.line}` ? '' : e.path, e.reason].filter(Boolean).join(' '),
    );
    process.stdout.write(`  ${where}: ${problems.join('; ')}\n`);
  }
  if (report.rejectedCount > 20) process.stdout.write(`  … ${report.rejectedCount - 20} more (use --json)\n`);
}

/** The report's warnings (a segment column no dataflow activates, say), each on a line of its own on stderr. */
export function printWarnings(report: Pick<Report, 'warnings'>): void {
  for (const w of report.warnings ?? []) process.stderr.write(`warning: ${w.message}\n`);
}

/**
 * What a report that a syntax error cut short says (empty otherwise): the line reading stopped at, the last rejected
 * one, and that mirror mode then removed nobody.
 */
export function truncationNote(
  report: Pick<Report, 'truncated' | 'rejected' | 'rejectedCount' | 'mode'>,
  locate?: LineLocator,
): string {
  if (!report.truncated) return '';
  // The row that stopped reading is the last rejected, when the report lists them all (it lists the first 1,000).
  const last = report.rejected.length === report.rejectedCount ? report.rejected.at(-1) : undefined;
  const at = last === undefined ? undefined : (locate?.(last.line) ?? { path: '', line: last.line });
  const where = at === undefined ? '' : ` at ${at.path ? `${at.path} ` : ''}line ${at.line}`;
  // An NDJSON file whose last line is no JSON and ends without a line break: nothing came after it.
  if (last?.errors.some((e) => e.reason.includes('looks cut off')))
    return (
      `The file looks cut off${where} (its last line is no JSON and ends without a line break): it was not read ` +
      `in full${report.mode === 'mirror' ? ', so nobody was removed' : ''}. Export or download it again, then ` +
      'import it again\n'
    );
  return (
    `Reading stopped${where} (a syntax error): the rest of the file was not read` +
    `${report.mode === 'mirror' ? ', so nobody was removed' : ''}. Fix that line and import the file again\n`
  );
}

/**
 * Prints an import's report (JSON with --json) and returns the exit code: refused when rows were read and none was
 * accepted. `source` names what mirror mode compared against; `locate` the file and line of a rejected line when the
 * import joined several files (`file` and `fileLine` in JSON).
 */
export function finish(
  report: Report,
  opts: GlobalOptions,
  source = 'the file',
  locate?: LineLocator,
): number {
  if (opts.json)
    printJson(
      locate
        ? {
            ...report,
            rejected: report.rejected.map((r) => {
              const at = locate(r.line);
              return at ? { ...r, file: at.path, fileLine: at.line } : r;
            }),
          }
        : report,
    );
  else {
    if (report.replayed)
      process.stdout.write(
        `Imported before under the key ${report.key}: its report follows, nothing was read again ` +
          '(pass --key with a new key to import the file again)\n',
      );
    else if ((report.attempts ?? 1) > 1)
      process.stdout.write(`Resumed: the import took ${report.attempts} attempts\n`);
    process.stdout.write(
      `Import key: ${report.key}\nRows read: ${report.rowsRead}\nAccepted: ${report.accepted}\n` +
        `Excluded: ${
          Object.entries(report.excluded)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ') || 'none'
        }\n` +
        `Rejected: ${report.rejectedCount}\n` +
        (report.mode === 'mirror' ? `Removed (absent from ${source}): ${report.removed}\n` : '') +
        (report.removalSkipped ? `Nobody removed: ${report.removalSkipped}\n` : '') +
        truncationNote(report, locate),
    );
    printRejected(report, locate);
    printWarnings(report);
    // An empty delta is a valid incremental import, but an export that wrote nothing is worth a look.
    if (report.rowsRead === 0 && !report.replayed)
      process.stderr.write(`warning: ${source} holds no profiles: nothing changed\n`);
  }
  // A mirror import that removed nobody did not do all it was asked: a script running it must hear of it.
  const unmirrored = report.mode === 'mirror' && (report.removalSkipped || report.truncated);
  return (report.accepted === 0 && report.rowsRead > 0) || unmirrored ? EXIT.refused : EXIT.ok;
}

/**
 * Imports in this process against the store: one file read in place, or what `body` reads (see `importBody`): several
 * parts as one, or a part at a URL.
 */
async function importLocal(
  files: string | readonly Part[],
  opts: Omit<ImportOpts, 'batch'> & { format: string; batch: number | undefined; key: string },
  size: number | null,
  tty: boolean,
  body?: BodySource,
): Promise<Report> {
  const { openStore } = await import('../../store/index.ts');
  const { createEngine, EngineError } = await import('../../engine/index.ts');
  const { AuthError } = await import('../../xads/index.ts');
  const config = loadConfig(process.env);
  const store = await openStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    secretKey: config.secretKey,
    previousSecretKey: config.previousSecretKey,
    sqlite: { cacheMb: config.sqliteCacheMb },
  });
  try {
    const flow = (await store.dataflows.listAcrossSandboxes(['active', 'paused', 'failed'])).find(
      (d) => d.id === opts.dataflow,
    );
    if (!flow) throw new CliError(`No dataflow ${opts.dataflow} in this store`, EXIT.notFound);
    const engine = createEngine({
      store,
      // Importing only writes the ledger; the running service's workers deliver.
      clientFor: () => {
        throw new AuthError({ message: 'tca import does not deliver' });
      },
    });
    const bar = progressBar(size, tty);
    const options = {
      sandboxId: flow.sandboxId,
      format: opts.format as FileFormat,
      mode: opts.mode,
      ...(opts.segment !== undefined ? { segmentId: opts.segment } : {}),
      ...(opts.keyNamespace !== undefined ? { csvKeyNamespace: opts.keyNamespace } : {}),
      ...(opts.maxRejected !== undefined ? { maxRejectedShare: opts.maxRejected / 100 } : {}),
      ...(opts.maxRemoved !== undefined ? { maxRemovedShare: opts.maxRemoved / 100 } : {}),
      ...(opts.batch !== undefined ? { batchSize: opts.batch } : {}),
      key: opts.key,
    };
    let report: ImportReport;
    if (typeof files === 'string')
      report = await engine.importFile(files, {
        ...options,
        onProgress: (p) => bar.update(p.bytesRead, p.rowsRead),
      });
    else {
      // The bar counts the files' bytes as read (compressed ones for gzip parts) and the rows the engine wrote.
      let bytes = 0;
      const stream = await body!((read) => bar.update((bytes = read)));
      report = await engine.importStream(stream, {
        ...options,
        name: files.length === 1 ? files[0]!.name : `${files.length} files`,
        onProgress: (p) => bar.update(bytes, p.rowsRead),
      });
    }
    if (size !== null) bar.update(size);
    bar.stop();
    return report;
  } catch (error) {
    // A file the engine refuses (empty, a bad header, no rows to mirror) or a key of another import: said as the
    // service's refusal is, with the same exit code.
    if (error instanceof EngineError && ['invalid_file', 'invalid_input', 'conflict'].includes(error.code))
      throw new CliError(error.message, EXIT.refused, error.details);
    throw error;
  } finally {
    await store.close();
  }
}

/** Waits between attempts: 1, 2, 4, 8, 16, then 30 s; or what the service asked for (Retry-After, at most 60 s). */
function retryDelayMs(attempt: number, retryAfter: string | null): number {
  const asked = Number(retryAfter);
  if (retryAfter !== null && Number.isFinite(asked) && asked > 0) return Math.min(asked, 60) * 1000;
  return Math.min(2 ** (attempt - 1), 30) * 1000;
}

/**
 * Streams the file to `POST /api/v1/imports` under its key, and resumes by itself when an attempt stops short: the
 * connection dropped or the service was unreachable, a 5xx, `upload_incomplete`, or `import_running` (the service
 * still counts an earlier attempt as live). Each attempt sends the file from its start; the service checks the rows it
 * wrote before and skips them, so nothing is imported twice. Other refusals end the command.
 */
async function uploadRemote(
  body: BodySource,
  opts: Omit<ImportOpts, 'batch'> & { format: string; key: string; name?: string | undefined },
  size: number | null,
  tty: boolean,
): Promise<Report> {
  const api = await connect(opts);
  await api.request('GET', `/api/v1/dataflows/${encodeURIComponent(opts.dataflow)}`);
  for (let attempt = 1; ; attempt += 1) {
    const bar = progressBar(size, tty);
    let res: Response | null = null;
    let failure: string;
    // A body that fails to read ends the attempt with its own error: a part that could not be downloaded is tried
    // again, anything else (a Parquet row group that cannot be decoded) ends the command.
    let bodyError: unknown = null;
    try {
      const stream = await body((bytes, rows) => bar.update(bytes, rows));
      stream.once('error', (error) => (bodyError = error));
      res = await postImport(api, stream, opts);
    } catch (error) {
      const cause = bodyError ?? error;
      if (!(cause instanceof CliError) || cause.exitCode !== EXIT.unavailable) throw cause;
      failure = cause.message;
    } finally {
      bar.stop();
    }
    if (res !== null) {
      if (res.ok) return handleResponse<Report>(res);
      const code = await res
        .clone()
        .json()
        .then(
          (doc: { error?: { code?: string } }) => doc.error?.code,
          () => undefined,
        );
      const retryable = res.status >= 500 || code === 'upload_incomplete' || code === 'import_running';
      if (!retryable || attempt > opts.retries) return handleResponse<Report>(res);
      failure = `HTTP ${res.status}${code ? ` ${code}` : ''}`;
    } else if (attempt > opts.retries) {
      throw new CliError(
        `${failure!} (gave up after ${attempt} attempts; run the same command to resume)`,
        EXIT.unavailable,
      );
    }
    const wait = retryDelayMs(attempt, res?.headers.get('retry-after') ?? null);
    process.stderr.write(
      `The upload stopped (${failure!}); resuming import ${opts.key} in ${wait / 1000} s ` +
        `(attempt ${attempt + 1} of ${opts.retries + 1})\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** `--max-rejected`, for `tca import` and `tca import-sql`. */
export const maxRejectedOption = () =>
  new Option(
    '--max-rejected <percent>',
    'mirror mode: the percentage of rows that may be rejected while absent members are still removed (default 5)',
  ).argParser(percentage);

/** `--max-removed`, for `tca import` and `tca import-sql`. */
export const maxRemovedOption = () =>
  new Option(
    '--max-removed <percent>',
    "mirror mode: the percentage of the segment's known members that may be absent and removed (default 90; 100: any)",
  ).argParser(percentage);

/** A percentage from 0 to 100 (`%` allowed). */
function percentage(value: string): number {
  const n = Number(value.trim().replace(/%$/, ''));
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100)
    throw new InvalidArgumentError('a percentage from 0 to 100');
  return n;
}

/** Streams `body` to `POST /api/v1/imports` with the import's options; the service answers once it is all written. */
export function postImport(
  api: Api,
  body: Readable,
  opts: {
    format: string;
    mode: string;
    segment?: string | undefined;
    keyNamespace?: string | undefined;
    maxRejected?: number | undefined;
    maxRemoved?: number | undefined;
    key?: string | undefined;
    /** The file's name, for the service's messages (`Content-Disposition`). */
    name?: string | undefined;
  },
): Promise<Response> {
  const query = new URLSearchParams({ format: opts.format, mode: opts.mode });
  if (opts.segment !== undefined) query.set('segmentId', opts.segment);
  if (opts.keyNamespace !== undefined) query.set('keyNamespace', opts.keyNamespace);
  if (opts.maxRejected !== undefined) query.set('maxRejectedPercent', String(opts.maxRejected));
  if (opts.maxRemoved !== undefined) query.set('maxRemovedPercent', String(opts.maxRemoved));
  const contentType =
    opts.format === 'csv' ? 'text/csv' : opts.format === 'json' ? 'application/json' : 'application/x-ndjson';
  return api.raw(
    'POST',
    `/api/v1/imports?${query.toString()}`,
    Readable.toWeb(body) as ReadableStream<Uint8Array>,
    {
      'content-type': contentType,
      ...(opts.key !== undefined ? { 'idempotency-key': opts.key } : {}),
      ...(opts.name !== undefined
        ? { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(opts.name)}` }
        : {}),
    },
  );
}
