import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createGunzip, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { extname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../config/index.ts';
import type { ImportReport } from '../../engine/index.ts';
import {
  action,
  connect,
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
  format?: 'ndjson' | 'json' | 'csv' | 'parquet';
  mode: 'incremental' | 'mirror';
  segment?: string;
  keyNamespace?: string;
  local?: boolean;
  batch?: string;
  key?: string;
}

const REMOTE_BATCH = 1000;

function progressBar(
  total: number,
  enabled: boolean,
): { update(bytes: number, rows?: number): void; stop(): void } {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
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
 * `tca import FILE --dataflow ID`: loads a file of profile exports. By default NDJSON and JSON files go through the
 * ingest API in batches (each retried safely), and CSV files and mirror mode stream the whole file to the imports API
 * in one request; `--local` runs the import in this process against the store, for files on the service's machine.
 */
export function registerImportCommand(program: Command): void {
  withConnection(
    program
      .command('import <file>')
      .description(
        'Import profile exports from a file (NDJSON, JSON array or CSV, plain or gzip; or Parquet with CSV columns)',
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
        `profiles per request (default ${REMOTE_BATCH}), or per transaction with --local (default 20000)`,
      )
      .option(
        '--key <key>',
        'the import key: running the command again with it resumes an interrupted import (default: made from the ' +
          "file's path, size and modification time, so the same command resumes by itself)",
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
        ]),
      ),
  ).action(
    action(async (file: string, opts: ImportOpts) => {
      const path = resolve(file);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new CliError(`Cannot read ${path}`, EXIT.usage);
      }
      // `.csv.gz` and the like: gzip files are read (and sent) compressed, and the service decompresses them.
      const ext = extname(path.toLowerCase().replace(/\.gz$/, ''));
      const format =
        opts.format ??
        (ext === '.csv' ? 'csv' : ext === '.json' ? 'json' : ext === '.parquet' ? 'parquet' : 'ndjson');
      if (opts.mode === 'mirror' && !opts.segment)
        throw new CliError('--mode mirror needs --segment', EXIT.usage);
      const batch = opts.batch === undefined ? undefined : Number(opts.batch);
      if (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > 100_000))
        throw new CliError('--batch must be 1..100000', EXIT.usage);
      const tty = Boolean(process.stderr.isTTY) && !opts.json;
      if (opts.key !== undefined && (opts.key.length === 0 || opts.key.length > 200))
        throw new CliError('--key must be 1–200 characters', EXIT.usage);
      const key = opts.key ?? (await fileKey(path));

      if (opts.local) {
        const report = await importLocal(path, { ...opts, format, batch, key }, size, tty);
        return finish(report, opts);
      }
      if (format === 'parquet') {
        const report = await uploadParquet(path, { ...opts, key }, size, tty);
        return finish(report, opts);
      }
      if (format === 'csv' || opts.mode === 'mirror') {
        const report = await uploadRemote(path, { ...opts, format, key }, size, tty);
        return finish(report, opts);
      }
      const report = await importRemote(
        path,
        { ...opts, format, batch: batch ?? REMOTE_BATCH, key },
        size,
        tty,
      );
      return finish(report, opts);
    }),
  );
}

type Report = Pick<
  ImportReport,
  'rowsRead' | 'accepted' | 'excluded' | 'rejectedCount' | 'rejected' | 'removed'
> & { mode: string; format: string; key: string; attempts?: number; replayed?: boolean };

/** Whether a file holds gzip data (it starts with 1f 8b), whatever it is called. */
async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** The default import key: the same file, unchanged, at the same path gets the same key. */
async function fileKey(path: string): Promise<string> {
  const s = await stat(path);
  return `file-${createHash('sha256').update(`${path}\0${s.size}\0${s.mtimeMs}`).digest('hex').slice(0, 16)}`;
}

/** The first 20 rejected rows with their line and problems, and how many more there are. */
export function printRejected(report: Pick<Report, 'rejected' | 'rejectedCount'>): void {
  for (const r of report.rejected.slice(0, 20))
    process.stdout.write(
      `  line ${r.line}: ${r.errors.map((e) => [e.path, e.reason].filter(Boolean).join(' ')).join('; ')}\n`,
    );
  if (report.rejectedCount > 20) process.stdout.write(`  … ${report.rejectedCount - 20} more (use --json)\n`);
}

/**
 * Prints an import's report (JSON with --json) and returns the exit code: refused when rows were read and none was
 * accepted. `source` names what mirror mode compared against.
 */
export function finish(report: Report, opts: GlobalOptions, source = 'the file'): number {
  if (opts.json) printJson(report);
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
        (report.mode === 'mirror' ? `Removed (absent from ${source}): ${report.removed}\n` : ''),
    );
    printRejected(report);
  }
  return report.accepted === 0 && report.rowsRead > 0 ? EXIT.refused : EXIT.ok;
}

async function importLocal(
  path: string,
  opts: Omit<ImportOpts, 'batch'> & { format: string; batch: number | undefined; key: string },
  size: number,
  tty: boolean,
): Promise<Report> {
  const { openStore } = await import('../../store/index.ts');
  const { createEngine } = await import('../../engine/index.ts');
  const { AuthError } = await import('../../xads/index.ts');
  const config = loadConfig(process.env);
  const store = await openStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    secretKey: config.secretKey,
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
    const report = await engine.importFile(path, {
      sandboxId: flow.sandboxId,
      format: opts.format as 'ndjson' | 'json' | 'csv' | 'parquet',
      mode: opts.mode,
      ...(opts.segment !== undefined ? { segmentId: opts.segment } : {}),
      ...(opts.keyNamespace !== undefined ? { csvKeyNamespace: opts.keyNamespace } : {}),
      ...(opts.batch !== undefined ? { batchSize: opts.batch } : {}),
      key: opts.key,
      onProgress: (p) => bar.update(p.bytesRead, p.rowsRead),
    });
    bar.update(size);
    bar.stop();
    return report;
  } finally {
    await store.close();
  }
}

/**
 * Streams the whole file to `POST /api/v1/imports` in one request (CSV files and mirror mode, which must see the
 * whole file): the service reads it as it arrives and answers with the import's report.
 */
async function uploadRemote(
  path: string,
  opts: Omit<ImportOpts, 'batch'> & { format: string; key: string },
  size: number,
  tty: boolean,
): Promise<Report> {
  const api = await connect(opts);
  await api.request('GET', `/api/v1/dataflows/${encodeURIComponent(opts.dataflow)}`);
  const bar = progressBar(size, tty);
  let sent = 0;
  const file = createReadStream(path);
  file.on('data', (chunk) => bar.update((sent += chunk.length)));
  try {
    return await handleResponse<Report>(await postImport(api, file, opts));
  } finally {
    bar.stop();
  }
}

/**
 * Sends a Parquet file's rows to `POST /api/v1/imports` as CSV (its column names are the header), read here one row
 * group at a time: Parquet is read from its footer, so the service could not read it as it arrives. The file is
 * checked (a Parquet file, with flat columns) before anything is sent.
 */
async function uploadParquet(
  path: string,
  opts: Omit<ImportOpts, 'batch' | 'format'> & { key: string },
  size: number,
  tty: boolean,
): Promise<Report> {
  const { csvField, readParquetFile, ParquetFileError } = await import('../../profile/index.ts');
  const progress = { bytesRead: 0 };
  const rows = readParquetFile(path, progress);
  const line = (cells: readonly string[]) => `${cells.map(csvField).join(',')}\n`;
  let first: Awaited<ReturnType<typeof rows.next>>;
  try {
    first = await rows.next();
  } catch (error) {
    if (error instanceof ParquetFileError)
      throw new CliError(`${error.message}. ${error.hint}`, EXIT.refused, error.details);
    throw error;
  }
  const api = await connect(opts);
  await api.request('GET', `/api/v1/dataflows/${encodeURIComponent(opts.dataflow)}`);
  const bar = progressBar(size, tty);
  const header = first.done || !('header' in first.value) ? [] : first.value.header;
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(line(header));
      // A row group at a time: each is one chunk of the upload.
      let chunk = '';
      for await (const item of rows) {
        if ('header' in item) continue;
        chunk += line(item.cells);
        if (chunk.length >= 1 << 20) {
          yield Buffer.from(chunk);
          chunk = '';
          bar.update(progress.bytesRead, item.row);
        }
      }
      if (chunk !== '') yield Buffer.from(chunk);
    })(),
  );
  try {
    return await handleResponse<Report>(await postImport(api, body, { ...opts, format: 'csv' }));
  } finally {
    bar.stop();
  }
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
    key?: string | undefined;
  },
): Promise<Response> {
  const query = new URLSearchParams({ format: opts.format, mode: opts.mode });
  if (opts.segment !== undefined) query.set('segmentId', opts.segment);
  if (opts.keyNamespace !== undefined) query.set('keyNamespace', opts.keyNamespace);
  const contentType =
    opts.format === 'csv' ? 'text/csv' : opts.format === 'json' ? 'application/json' : 'application/x-ndjson';
  return api.raw(
    'POST',
    `/api/v1/imports?${query.toString()}`,
    Readable.toWeb(body) as ReadableStream<Uint8Array>,
    {
      'content-type': contentType,
      ...(opts.key !== undefined ? { 'idempotency-key': opts.key } : {}),
    },
  );
}

async function importRemote(
  path: string,
  opts: Omit<ImportOpts, 'batch'> & { format: string; batch: number; key: string },
  size: number,
  tty: boolean,
): Promise<Report> {
  const api = await connect(opts);
  await api.request('GET', `/api/v1/dataflows/${encodeURIComponent(opts.dataflow)}`);
  // Same key, same batches, same request keys: re-running an interrupted import re-sends nothing twice.
  const batchKey = createHash('sha256').update(opts.key).digest('hex').slice(0, 32);
  const report: Report = {
    key: opts.key,
    format: opts.format,
    mode: 'incremental',
    rowsRead: 0,
    accepted: 0,
    excluded: {},
    rejectedCount: 0,
    rejected: [],
    removed: 0,
  };
  const bar = progressBar(size, tty);
  let batchNo = 0;
  let bytes = 0;

  const send = async (lines: Array<{ line: number; text: string }>) => {
    if (lines.length === 0) return;
    const res = await api.raw('POST', '/api/v1/ingest/profiles', lines.map((l) => l.text).join('\n'), {
      'content-type': 'application/x-ndjson',
      'idempotency-key': `import-${batchKey}-${batchNo++}`,
    });
    const body = (await res.json()) as {
      accepted?: number;
      excluded?: Record<string, number>;
      rejected?: Array<{ index: number; path: string; reason: string }>;
      error?: { message: string; details: Array<{ path: string; reason: string }> };
    };
    let rejected = body.rejected ?? [];
    if (res.status === 400 && body.error) {
      // Every item of the batch was rejected: the details say which and why.
      rejected = body.error.details.map((d) => {
        const m = /^\[(\d+)\](.*)$/.exec(d.path);
        return { index: m ? Number(m[1]) : 0, path: m ? `$${m[2]}` : d.path, reason: d.reason };
      });
    } else if (res.status !== 202) {
      throw new CliError(
        `Ingest failed (HTTP ${res.status}): ${body.error?.message ?? ''}`,
        res.status === 401 || res.status === 403 ? EXIT.unavailable : EXIT.serverError,
      );
    }
    report.accepted += body.accepted ?? 0;
    for (const [k, v] of Object.entries(body.excluded ?? {}))
      report.excluded[k] = (report.excluded[k] ?? 0) + v;
    const byIndex = new Map<number, Array<{ path: string; reason: string }>>();
    for (const r of rejected)
      byIndex.set(r.index, [...(byIndex.get(r.index) ?? []), { path: r.path, reason: r.reason }]);
    for (const [index, errors] of byIndex) {
      report.rejectedCount += 1;
      if (report.rejected.length < 1000) report.rejected.push({ line: lines[index]?.line ?? 0, errors });
    }
  };

  const gzip = await isGzip(path);
  if (opts.format === 'json') {
    const bytes = await readFile(path);
    const doc: unknown = JSON.parse((gzip ? gunzipSync(bytes) : bytes).toString('utf8'));
    const items = Array.isArray(doc) ? doc : [doc];
    for (let i = 0; i < items.length; i += opts.batch) {
      await send(
        items.slice(i, i + opts.batch).map((item, k) => ({ line: i + k + 1, text: JSON.stringify(item) })),
      );
      report.rowsRead = Math.min(items.length, i + opts.batch);
      bar.update(Math.round((size * report.rowsRead) / items.length), report.rowsRead);
    }
  } else {
    const file = createReadStream(path);
    const rl = createInterface({ input: gzip ? file.pipe(createGunzip()) : file, crlfDelay: Infinity });
    let pending: Array<{ line: number; text: string }> = [];
    let lineNo = 0;
    for await (const text of rl) {
      lineNo += 1;
      bytes += Buffer.byteLength(text) + 1;
      if (text.trim() === '') continue;
      report.rowsRead += 1;
      pending.push({ line: lineNo, text });
      if (pending.length >= opts.batch) {
        await send(pending);
        pending = [];
        // The bar counts the file's bytes: compressed ones for a gzip file.
        bar.update(gzip ? file.bytesRead : bytes, report.rowsRead);
      }
    }
    await send(pending);
    bar.update(size, report.rowsRead);
  }
  bar.stop();
  return report;
}
