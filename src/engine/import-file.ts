import { createReadStream, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { once } from 'node:events';
import { parse as parseCsv } from 'csv-parse';
import { sql } from 'kysely';
import {
  CSV_IDENTITY_COLUMNS,
  fileFormatOf,
  PARQUET_MAGIC,
  ParquetFileError,
  parseCsvProfileHeader,
  readParquetFile,
  readParquetRows,
  type FileFormat,
} from '../profile/index.ts';
import type { AsyncBuffer } from 'hyparquet';
import type { CsvProfileLayout } from '../profile/index.ts';
import {
  audienceActive,
  consentStamp,
  loadSandboxContext,
  sameKeyNamespaces,
  sameKeyNamespacesSqlite,
  sameKeys,
  type SandboxContext,
} from './dataflow-context.ts';
import { reevaluateAudiences } from './consent-settings.ts';
import { EngineError } from './errors.ts';
import {
  batchDigest,
  decodeEvaluatedItems,
  evaluateImportItems,
  MAX_IMPORT_ITEM_BYTES,
  NOT_JSON,
  type EncodedBatch,
  type EvaluatedItem,
  type ImportTask,
  type ItemErrors,
} from './import-evaluate.ts';
import {
  adjustEvaluation,
  applyEvaluations,
  applyEvaluationsSqlite,
  enableKeyAliases,
  isKeyAliasesNeeded,
  keyNamespacesChanged,
  type ApplyExtra,
} from './ingest.ts';
import {
  chainDigest,
  claimImport,
  emptyReport,
  finishImport,
  heartbeatImport,
  writeImportProgress,
  writeImportProgressSqlite,
} from './import-progress.ts';
import { plainEvaluationContext, type ProfileEvaluation } from './profile-state.ts';
import { ThreadPool } from '../workers/thread-pool.ts';
import { JsonArraySplitter } from './json-array-splitter.ts';
import { writeDesired, type DesiredWrite } from './ledger-writes.ts';
import type { EngineRuntime } from './runtime.ts';
import { chunkRows, lockSandboxProfiles, retryTransientConflicts, type Db } from './sql-helpers.ts';
import { editDistance } from '../text/edit-distance.ts';

/** `parquet` reads the CSV profile model from a Parquet file's columns; it needs a file, not a stream. */
export type ImportFormat = FileFormat;

export interface ImportOptions {
  sandboxId: string;
  /** Default: from the extension (`.csv`, `.json`, `.parquet`, else NDJSON). */
  format?: ImportFormat;
  /** `mirror`: the file is the full audience of `segmentId`; known members absent from it are removed. */
  mode?: 'incremental' | 'mirror';
  /** Required for mirror mode; in mirror mode every row is a member of it unless the row says otherwise. */
  segmentId?: string;
  /**
   * Items per transaction: NDJSON lines (blank ones included), JSON array items or CSV rows. Default 20,000: profile
   * keys are hashes, so larger batches rewrite fewer index pages per profile.
   */
  batchSize?: number;
  /** Namespace under which a CSV row's `profile_key` becomes the profile key (default `CRMID`). */
  csvKeyNamespace?: string;
  /**
   * Mirror mode: the share of the file's rows (0–1) that may be rejected while its absent members are still removed
   * (default `MIRROR_MAX_REJECTED_SHARE`). Above it, nobody is removed (see `ImportReport.removalSkipped`).
   */
  maxRejectedShare?: number;
  /**
   * Mirror mode: the share of the segment's known members (0–1) that may be absent from the file and removed (default
   * `MIRROR_MAX_REMOVED_SHARE`). Above it, nobody is removed (see `ImportReport.removalSkipped`): a file that lists a
   * few members of a large segment is far more often a cut-off export or a wrong query than a segment that emptied.
   */
  maxRemovedShare?: number;
  /** Called after every batch. */
  onProgress?: (progress: ImportProgress) => void;
  /**
   * The import's key (1–200 characters; default: a new one). Importing again with the key of an import that did not
   * complete resumes it: the rows its batches committed are skipped, after checking that the file starts with the same
   * rows, and the rest is imported. With the key of a completed import, its report is returned and nothing is read.
   */
  key?: string;
  /** At most this many rejected rows are listed (all are counted). Default 1000. */
  maxRejectedListed?: number;
  /**
   * Worker threads that parse and hash the items (NDJSON, JSON or CSV) while the main thread writes. Default: the
   * engine's `importThreads` for files of 1 MiB or more, none for smaller ones (starting threads would cost more).
   */
  threads?: number;
}

export interface ImportProgress {
  rowsRead: number;
  bytesRead: number;
  /** Null when the source does not say (an upload without a length). */
  totalBytes: number | null;
}

export interface ImportReport {
  /** The import's key: importing again with it resumes an unfinished import (see `ImportOptions.key`). */
  key: string;
  /** Attempts it took: 1 unless it was resumed. */
  attempts: number;
  /** True when the import had completed before: this is its report, and nothing was read this time. */
  replayed: boolean;
  format: ImportFormat;
  mode: 'incremental' | 'mirror';
  rowsRead: number;
  accepted: number;
  /** Identities (or profiles, for `no_mappable_identifier`) left out, per reason code. */
  excluded: Record<string, number>;
  rejectedCount: number;
  /** Rejected rows with their line (NDJSON, CSV) or item number (JSON array), 1-based. */
  rejected: Array<{ line: number; errors: Array<{ path: string; reason: string }> }>;
  /** Mirror mode: members of the segment absent from the file, now removed. */
  removed: number;
  /**
   * True when a syntax error stopped reading before the end of the file, or the file looks cut off (an NDJSON last
   * line that is no JSON, ended by no line break): mirror mode then removes nothing.
   */
  truncated: boolean;
  /**
   * Mirror mode read the whole file but removed nobody, and why: more than `MIRROR_MAX_REJECTED_SHARE` of its rows
   * were rejected (a rejected row may be a member; a file in the wrong shape would otherwise empty the audience), or
   * more than `MIRROR_MAX_REMOVED_SHARE` of the segment's known members are absent from it.
   */
  removalSkipped: string | null;
  /** What was imported but will reach no audience as the file says (see `ImportWarning`); empty for most files. */
  warnings: ImportWarning[];
  ledgerWrites: number;
  /**
   * What this call added, for counters that must not count a row twice: the report of a resumed import counts every
   * attempt, and a completed import sent again adds nothing.
   */
  thisCall: { accepted: number; excluded: Record<string, number> };
}

/**
 * Something an import did as asked but that will not do what the file seems to mean; its rows are imported all the
 * same. `segment_not_activated`: a `segment:<id>` column (CSV, Parquet) names a segment that no dataflow of the
 * sandbox activates, so the memberships it holds are kept with the profiles but reach no audience (a typo in the id,
 * or a segment not activated yet). `column_not_read`: a column read as an attribute that nothing reads, whose name
 * looks like a slip for an identity or segment column (`emial`, `segment_vip`): its values reach no audience
 * (`segmentIds` is empty).
 */
export interface ImportWarning {
  code: 'segment_not_activated' | 'column_not_read';
  /** The segment ids, as the columns name them. */
  segmentIds: string[];
  /** Where: the header columns, as the file names them. */
  columns: string[];
  /** What, and what to do. */
  message: string;
}

/**
 * The warning for the `segment:` columns of `layout` whose segment no dataflow of the sandbox activates (an audience
 * of an active, paused or failed dataflow, not being removed), or none.
 */
export function unactivatedSegmentWarnings(
  layout: CsvProfileLayout,
  context: SandboxContext,
): ImportWarning[] {
  const activated = new Set(context.dataflows.flatMap((d) => d.audiences.map((a) => a.segmentId)));
  const missing: Array<{ segmentId: string; column: string }> = [];
  layout.columns.forEach((column, index) => {
    if (column.kind !== 'segment' || activated.has(column.segmentId)) return;
    missing.push({ segmentId: column.segmentId, column: String(layout.header[index] ?? '').trim() });
  });
  if (missing.length === 0) return [];
  const ids = [...new Set(missing.map((m) => m.segmentId))];
  const one = ids.length === 1;
  // The likeliest reason: the id differs from an activated one only in case (ids are matched exactly).
  const lower = new Map([...activated].map((id) => [id.toLowerCase(), id]));
  const near = ids.flatMap((id) => {
    const match = lower.get(id.toLowerCase());
    return match === undefined ? [] : [`"${id}" is not "${match}", which is activated (ids match exactly)`];
  });
  return [
    {
      code: 'segment_not_activated',
      segmentIds: ids,
      columns: missing.map((m) => m.column),
      message:
        `No dataflow of this sandbox activates segment${one ? '' : 's'} ${ids.join(', ')} ` +
        `(column${missing.length === 1 ? '' : 's'} ${missing.map((m) => `"${m.column}"`).join(', ')}): ` +
        `the rows were imported, but the memberships ${missing.length === 1 ? 'that column holds' : 'those columns hold'} ` +
        `reach no audience${near.length > 0 ? `. ${near.join('; ')}` : ''}. Activate ${one ? 'it' : 'them'} ` +
        `(tca dataflows update <dataflow> --add-segment ${ids.join(' ')}, or PATCH /api/v1/dataflows/:id), ` +
        'or name the segment ids the dataflows activate in the header, then import the file again',
    },
  ];
}

/** The column names a header may misspell: the identity columns and the profile key. */
const NAMED_COLUMNS = ['profile_key', ...Object.keys(CSV_IDENTITY_COLUMNS)];

/**
 * What a CSV or Parquet header's attribute column seems meant to be, when its name looks like a slip: the column
 * name it is an edit or two from (`emial`, `e-mail`, `phone_e.164`) or names (`email_address`, `phone_number`), or the
 * `segment:` / `identity:` / `attr:` form its name starts like (`segment_vip`, `segments:vip`, `Identity ECID`). Null
 * for an attribute named as one.
 */
function meantColumn(name: string): string | null {
  const lower = name.toLowerCase();
  const near = NAMED_COLUMNS.find(
    (known) => editDistance(lower, known, { transpositions: true }) <= (known.length <= 4 ? 1 : 2),
  );
  if (near !== undefined) return `"${near}"`;
  // `email_address`, `hashed_email`, `phone_number`, `mobile_phone`.
  if (lower.includes('email')) return '"email" (or "email_sha256" for digests)';
  if (lower.includes('phone')) return '"phone" (or "phone_e164", "phone_sha256")';
  for (const prefix of ['segment', 'identity', 'attr'])
    if (lower.startsWith(prefix) && !lower.startsWith(`${prefix}:`))
      return `"${prefix}:${name.slice(prefix.length).replace(/^[^A-Za-z0-9]+/, '') || '…'}"`;
  return null;
}

/**
 * The warning for attribute columns of `layout` that nothing reads (no mapping row of the sandbox, no consent policy)
 * and whose names look like slips for an identity or segment column (see `meantColumn`), or none: their values reach
 * no audience, while the file seems to mean them to.
 */
export function unreadColumnWarnings(layout: CsvProfileLayout, context: SandboxContext): ImportWarning[] {
  const read = new Set<string>();
  for (const row of context.rows.values()) if (row.sourceType === 'attribute') read.add(row.source);
  const slips: Array<{ column: string; meant: string }> = [];
  layout.columns.forEach((column, index) => {
    if (column.kind !== 'attribute' || read.has(column.path) || column.path.startsWith('consents')) return;
    const name = String(layout.header[index] ?? '')
      .replace(/^\ufeff/, '')
      .trim();
    const meant = meantColumn(name);
    if (meant !== null) slips.push({ column: name, meant });
  });
  if (slips.length === 0) return [];
  const one = slips.length === 1;
  return [
    {
      code: 'column_not_read',
      segmentIds: [],
      columns: slips.map((s) => s.column),
      message:
        `${one ? 'Column' : 'Columns'} ${slips.map((s) => `"${s.column}" (did you mean ${s.meant}?)`).join(', ')} ` +
        `${one ? 'is' : 'are'} read as ${one ? 'an attribute' : 'attributes'} that no mapping reads: the rows were ` +
        `imported, but ${one ? 'its' : 'their'} values reach no audience. Rename ${one ? 'it' : 'them'} in the ` +
        'header (profile_key, email, phone, phone_e164, email_sha256, phone_sha256, idfa, gaid, identity:<namespace>, ' +
        'segment:<id>), then import the file again',
    },
  ];
}

/**
 * Where an import reads its bytes from: a file, or a stream (an upload) whose size may be unknown. `name` says
 * which in error messages.
 */
export type ImportSource =
  | { kind: 'file'; path: string }
  | { kind: 'stream'; name: string; bytes: AsyncIterable<Uint8Array>; totalBytes: number | null }
  /** An object read by byte ranges (a Parquet file behind a URL): Parquet is read from its end. */
  | { kind: 'ranges'; name: string; buffer: AsyncBuffer };

/**
 * The bytes of a source as stored or sent, counted into `progress`, in reads of about `readSize` bytes for a file.
 * A source that fails (an upload cut off, a read error) throws a `source_failed` EngineError, which no reader
 * mistakes for a syntax error in the data.
 */
async function* rawBytesOf(
  source: ImportSource,
  progress: { bytesRead: number },
  readSize: number,
): AsyncGenerator<Buffer> {
  // Only Parquet is read by ranges, and `importProfiles` refuses any other format from such a source.
  if (source.kind === 'ranges') throw new Error(`${source.name} is read by byte ranges, as Parquet only`);
  const reads: AsyncIterable<Uint8Array> =
    source.kind === 'stream' ? source.bytes : createReadStream(source.path, { highWaterMark: readSize });
  try {
    for await (const bytes of reads) {
      progress.bytesRead += bytes.byteLength;
      yield Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
  } catch (cause) {
    throw new EngineError('source_failed', `Reading ${nameOf(source)} failed before its end`, {
      cause,
      details: [{ path: nameOf(source), reason: cause instanceof Error ? cause.message : String(cause) }],
    });
  }
}

/**
 * The content of a source: its bytes, decompressed when they are gzip (they start with 1f 8b), whatever the file is
 * called or the upload declares. `progress` counts the bytes as stored or sent.
 */
async function* bytesOf(
  source: ImportSource,
  progress: { bytesRead: number },
  readSize = 1024 * 1024,
): AsyncGenerator<Buffer> {
  const raw = rawBytesOf(source, progress, readSize);
  // Reads may be tiny (an upload's first packet): gather four bytes before deciding.
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 4) {
    const step = await raw.next();
    if (step.done) {
      ended = true;
      break;
    }
    head.push(step.value);
    headBytes += step.value.length;
  }
  const all = async function* () {
    yield* head;
    if (!ended) yield* raw;
  };
  const start = Buffer.concat(head).subarray(0, 4);
  if (start.toString('latin1') === PARQUET_MAGIC) {
    const details = [{ path: nameOf(source), reason: 'starts with PAR1' }];
    throw source.kind === 'file'
      ? new EngineError('invalid_file', `${source.path} is a Parquet file`, {
          details,
          hint: 'Import it with the format parquet (the default for a .parquet name)',
        })
      : new EngineError(
          'invalid_file',
          `${source.name} is a Parquet file, which is read from a file, not a stream`,
          {
            details,
            hint: 'Import it with `tca import FILE.parquet` (it sends the rows as CSV), or export CSV or NDJSON',
          },
        );
  }
  if (start[0] === 0x1f && start[1] === 0x8b) yield* gunzipped(all(), nameOf(source));
  else yield* all();
}

/**
 * Gzip data decompressed as it arrives (members one after another, as `cat a.gz b.gz` makes, included). When the
 * source fails, what arrived before is decompressed and read first, then the source's error is thrown (not the
 * truncated-data error it leaves the decompressor with).
 */
async function* gunzipped(chunks: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  const stopFeeding = new AbortController();
  let sourceError: unknown = null;
  void (async () => {
    try {
      for await (const chunk of chunks) {
        if (!gunzip.write(chunk)) await once(gunzip, 'drain', { signal: stopFeeding.signal });
      }
    } catch (error) {
      if (stopFeeding.signal.aborted) return;
      sourceError = error;
    }
    gunzip.end();
  })();
  try {
    for await (const out of gunzip as AsyncIterable<Buffer>) yield out;
  } catch (error) {
    if (sourceError !== null) throw sourceError;
    throw new EngineError('invalid_file', `${name} is not valid gzip data`, {
      cause: error,
      details: [{ path: name, reason: error instanceof Error ? error.message : String(error) }],
      hint: 'Send the whole file, compressed once with gzip, or uncompressed',
    });
  } finally {
    stopFeeding.abort();
    gunzip.destroy();
  }
  if (sourceError !== null) throw sourceError;
}

function nameOf(source: ImportSource): string {
  return source.kind === 'file' ? source.path : source.name;
}

/**
 * An object read by ranges, counting the bytes read into `progress`. A range that cannot be read fails the source
 * (`source_failed`), as a stream cut off does: the import stops, resumable, never taking it for damaged data.
 */
function countedBuffer(
  source: Extract<ImportSource, { kind: 'ranges' }>,
  progress: { bytesRead: number },
): AsyncBuffer {
  return {
    byteLength: source.buffer.byteLength,
    async slice(start: number, end?: number) {
      let bytes: ArrayBuffer;
      try {
        bytes = await source.buffer.slice(start, end);
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new EngineError('source_failed', `Reading ${source.name} failed: ${reason}`, {
          cause,
          details: [{ path: source.name, reason }],
          hint: 'Import it again with the same key: it resumes after the rows already imported',
        });
      }
      progress.bytesRead += bytes.byteLength;
      return bytes;
    },
  };
}

/**
 * NDJSON cut into chunks of `lines` whole lines (the last may be shorter), as bytes: the worker that evaluates a
 * chunk decodes and splits it, so this thread only looks for newlines. Reads a file (a path) or any byte source.
 */
export async function* readLineChunks(
  source: ImportSource | string,
  lines: number,
  progress: { bytesRead: number },
  readSize = 1024 * 1024,
): AsyncGenerator<{ chunk: Buffer; firstLine: number; lines: number; open?: true }> {
  let parts: Buffer[] = [];
  let linesInParts = 0;
  let firstLine = 1;
  const from: ImportSource = typeof source === 'string' ? { kind: 'file', path: source } : source;
  for await (const buffer of bytesOf(from, progress, readSize)) {
    let start = 0;
    for (;;) {
      // Find the newline that completes the chunk, if this buffer holds it.
      let cut = -1;
      let found = 0;
      for (let from = start; linesInParts + found < lines;) {
        const nl = buffer.indexOf(10, from);
        if (nl === -1) break;
        found += 1;
        from = nl + 1;
        if (linesInParts + found === lines) cut = from;
      }
      if (cut === -1) {
        linesInParts += found;
        if (start < buffer.length) parts.push(buffer.subarray(start));
        break;
      }
      parts.push(buffer.subarray(start, cut));
      yield { chunk: Buffer.concat(parts), firstLine, lines };
      firstLine += lines;
      parts = [];
      linesInParts = 0;
      start = cut;
    }
  }
  if (parts.length > 0) {
    const chunk = Buffer.concat(parts);
    // The last lines: those the newlines end, and one more when the file does not end with a newline (`open`).
    if (chunk[chunk.length - 1] === 10) yield { chunk, firstLine, lines: linesInParts };
    else yield { chunk, firstLine, lines: linesInParts + 1, open: true };
  }
}

/** The JSON items of a JSON array, unparsed, with their item numbers. */
async function* readArrayItems(
  source: ImportSource,
  progress: { bytesRead: number },
): AsyncGenerator<{ line: number; text: string }> {
  const splitter = new JsonArraySplitter(MAX_IMPORT_ITEM_BYTES);
  // Reads may end inside a multibyte character: the decoder holds its first bytes until the rest arrives.
  const decoder = new StringDecoder('utf8');
  let item = 0;
  for await (const bytes of bytesOf(source, progress)) {
    for (const text of splitter.push(decoder.write(bytes))) yield { line: (item += 1), text };
    if (splitter.error) break;
  }
  if (!splitter.error) for (const text of splitter.push(decoder.end())) yield { line: (item += 1), text };
  splitter.end();
  if (splitter.error) {
    throw new EngineError('invalid_file', `${nameOf(source)} is not a JSON array: ${splitter.error}`, {
      details: [{ path: item === 0 ? nameOf(source) : `after item ${item}`, reason: splitter.error }],
      hint: 'Send one JSON array of profiles ([{…}, {…}]; the items of several joined in one), or one profile per line with the format ndjson',
    });
  }
}

/** A CSV header cell as it names its column: byte order mark, spaces and case aside. */
function headerCell(cell: string): string {
  return cell
    .replace(/^\ufeff/, '')
    .trim()
    .toLowerCase();
}

/**
 * Whether `cells` are the header `header` (its cells by `headerCell`) again. Asked of every row: a row's first cell
 * (its profile key, mostly) tells it apart at once, before any other cell is looked at.
 */
function isHeaderAgain(cells: readonly string[], header: readonly string[]): boolean {
  if (cells.length !== header.length) return false;
  for (let i = 0; i < cells.length; i += 1) if (headerCell(cells[i]!) !== header[i]) return false;
  return true;
}

/** What a CSV syntax error that ends reading says, by the parser's code: never the text it met. */
const CSV_SYNTAX_ERRORS: Readonly<Record<string, string>> = {
  CSV_QUOTE_NOT_CLOSED:
    'Quote Not Closed: a quoted value of this row is not closed before the end of the file',
  CSV_INVALID_CLOSING_QUOTE:
    'Invalid Closing Quote: a quoted value of this row is followed by something other than a separator or a line break',
  CSV_MAX_RECORD_SIZE: `Max Record Size: the row is longer than ${MAX_IMPORT_ITEM_BYTES} characters, far more than a profile`,
};

/**
 * The records of a CSV profile file after its header, with the header's layout and their line numbers. A bad
 * header, or none (an empty file), throws; a syntax error (an unclosed quote, say) ends the file with a fatal row,
 * named by the line the row starts on, after every record before it: the rest is unreadable.
 */
async function* readCsvRecords(
  source: ImportSource,
  progress: { bytesRead: number },
): AsyncGenerator<
  | { line: number; layout: CsvProfileLayout; record: string[] }
  | { line: number; errors: ItemErrors; fatal: true }
> {
  // The parser hands each record over as it reads it (`on_record`), and this generator gives it one read at a time:
  // a stream of records fails as soon as the parser meets a syntax error, and loses the records it had read before
  // it in the same read. Every line break ends a record, whichever the file started with: left to guess, the parser
  // takes the first one it meets for the whole file, so a file (or parts joined into one) written half CRLF, half LF
  // would run rows together.
  const read: Array<{ record: string[]; lines: number }> = [];
  const parser = parseCsv({
    relax_column_count: true,
    // A quote inside an unquoted value is part of it (that row's value is then invalid), as spreadsheets read it:
    // refused, it would end the import there and leave every later row unread.
    relax_quotes: true,
    // A row beyond this is refused as a syntax error rather than grown past what a string holds.
    max_record_size: MAX_IMPORT_ITEM_BYTES,
    bom: true,
    record_delimiter: ['\r\n', '\n', '\r'],
    on_record: (record: string[], info) => {
      read.push({ record, lines: info.lines });
      return null;
    },
  });
  // The error comes with the write that met it (below); the stream emits it too, and must not go unheard.
  parser.on('error', () => undefined);
  const parse = (bytes: Buffer | null) =>
    new Promise<Error | null>((resolve) => {
      const done = (error?: Error | null) => resolve(error ?? null);
      if (bytes === null) parser.end(done);
      else parser.write(bytes, done);
    });
  let layout: CsvProfileLayout | null = null;
  let headerCells: string[] = [];
  // Records are numbered by the line they start on, as an editor shows it. The parser counts each line break inside a
  // quoted value, but a CRLF there as two: those extra ones are taken off.
  let lastLine = 0;
  let doubleCounted = 0;
  let failure: Error | null;
  const bytes = bytesOf(source, progress);
  try {
    for (;;) {
      const next = await bytes.next();
      failure = await parse(next.done ? null : next.value);
      for (const record of read.splice(0)) {
        const line = lastLine + 1;
        for (const value of record.record)
          for (let at = value.indexOf('\r\n'); at !== -1; at = value.indexOf('\r\n', at + 2))
            doubleCounted += 1;
        lastLine = record.lines - doubleCounted;
        // A blank line (one at the end, say, or before the header) is no row, as in NDJSON: a profile has at least
        // a key and an identity, so no row of the file is a single empty cell.
        if (record.record.length === 1 && record.record[0]!.trim() === '') continue;
        if (layout === null) {
          const header = parseCsvProfileHeader(record.record);
          if (!header.ok) {
            throw new EngineError('invalid_file', `The CSV header of ${nameOf(source)} is not valid`, {
              details: header.errors.map((e) => ({ path: e.path, reason: e.reason })),
              hint: 'Name a profile_key column, identity columns (email, phone, …) and segment:<id> columns',
            });
          }
          layout = header.layout;
          headerCells = record.record.map(headerCell);
          continue;
        }
        // The header again: files joined with `cat`, each with its own. It names no profile.
        if (isHeaderAgain(record.record, headerCells)) continue;
        yield { line, layout, record: record.record };
      }
      if (failure !== null || next.done) break;
    }
  } finally {
    parser.destroy();
    // Stopped early (a bad header, or the import failed): the file is closed now, not when collected.
    await bytes.return(undefined);
  }
  if (failure !== null) {
    // The row that cannot be read starts on the line after the last record read. The parser names the line it
    // stopped on instead, which for an unclosed quote is the end of the file.
    const line = lastLine + 1;
    // The parser's own messages quote what it held (part of a cell: an email, say), and the report is stored: each
    // is said in words of its own.
    const code = (failure as { code?: unknown }).code;
    const reason =
      CSV_SYNTAX_ERRORS[typeof code === 'string' ? code : ''] ??
      `the CSV cannot be read on from this row (${typeof code === 'string' ? code : 'a syntax error'})`;
    yield { line, errors: [{ path: `line ${line}`, reason }], fatal: true };
    return;
  }
  if (layout === null)
    throw new EngineError(
      'invalid_file',
      `${nameOf(source)} is empty: a CSV file starts with its header row`,
      {
        details: [{ path: nameOf(source), reason: 'no header row' }],
        hint: 'Send the file with its header row: profile_key, identity columns (email, phone, …) and segment:<id> columns',
      },
    );
}

/**
 * The rows of a Parquet file as CSV records, numbered as lines of the CSV they read as (the header is line 1, so row
 * N is line N + 1): the same shape `readCsvRecords` yields. A file that is not Parquet, or whose columns are nested,
 * throws before any row is read.
 */
async function* readParquetRecords(
  source: Exclude<ImportSource, { kind: 'stream' }>,
  progress: { bytesRead: number },
): AsyncGenerator<{ line: number; layout: CsvProfileLayout; record: string[] }> {
  let layout: CsvProfileLayout | null = null;
  const path = nameOf(source);
  const items =
    source.kind === 'file'
      ? readParquetFile(source.path, progress)
      : readParquetRows(
          countedBuffer(source, progress),
          source.name,
          (error) => error instanceof EngineError,
        );
  try {
    for await (const item of items) {
      if ('header' in item) {
        const header = parseCsvProfileHeader(item.header);
        if (!header.ok) {
          throw new EngineError('invalid_file', `The columns of ${path} are not a profile layout`, {
            details: header.errors.map((e) => ({ path: e.path, reason: e.reason })),
            hint: 'Name a profile_key column, identity columns (email, phone, …) and segment:<id> columns',
          });
        }
        layout = header.layout;
      } else yield { line: item.row + 1, layout: layout!, record: item.cells };
    }
  } catch (error) {
    if (error instanceof ParquetFileError)
      throw new EngineError('invalid_file', error.message, {
        cause: error,
        details: error.details,
        hint: error.hint,
      });
    throw error;
  }
}

/**
 * Imports a file of profiles: NDJSON or a JSON array of AEP profile exports, or CSV rows (the profile CSV model).
 * Streams it in batches (one transaction each), so memory stays flat whatever the file size. In `mirror` mode the
 * file is the full audience of `segmentId`: members known before but absent from it are removed.
 */
export async function importProfilesFile(
  rt: EngineRuntime,
  path: string,
  options: ImportOptions,
): Promise<ImportReport> {
  return importProfiles(
    rt,
    { kind: 'file', path },
    { ...options, format: options.format ?? fileFormatOf(path) },
  );
}

/** The size of a file to import, or why it cannot be read (before any import is recorded). */
function fileSize(path: string): number {
  let stats;
  try {
    stats = statSync(path);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : cause instanceof Error
            ? cause.message
            : String(cause);
    throw new EngineError('invalid_file', `Cannot read ${path}: ${reason}`, {
      cause,
      details: [{ path, reason }],
      hint: 'Check the path and its permissions',
    });
  }
  // A pipe (a process substitution) is read as it comes; a directory holds no rows.
  if (stats.isDirectory())
    throw new EngineError('invalid_file', `${path} is a directory, not a file`, {
      details: [{ path, reason: 'a directory' }],
      hint: 'Name a file in it (the parts of one export: tca import DIR/part-*.csv)',
    });
  return stats.size;
}

/**
 * Imports profiles from a source (a file or an upload), exactly as `importProfilesFile` does; a stream source needs
 * its format. A source that fails before its end throws a `source_failed` EngineError: the batches written before
 * stay, and mirror mode removes nothing.
 */
export async function importProfiles(
  rt: EngineRuntime,
  source: ImportSource,
  options: ImportOptions & { format: ImportFormat },
): Promise<ImportReport> {
  const format = options.format;
  const mode = options.mode ?? 'incremental';
  if (mode === 'mirror' && !options.segmentId) {
    throw new EngineError('invalid_input', 'Mirror mode needs the segment the file holds', {
      details: [{ path: 'segmentId', reason: 'required when mode is mirror' }],
      hint: 'Name the segment (--segment ID, or segmentId in the API)',
    });
  }
  if (format === 'parquet' && source.kind === 'stream') {
    throw new EngineError('invalid_input', 'A Parquet file is read from a file, not a stream', {
      details: [{ path: 'format', reason: 'parquet needs random access to the file' }],
      hint: 'Import it with `tca import FILE.parquet` (it sends the rows as CSV), or export CSV or NDJSON',
    });
  }
  if (format !== 'parquet' && source.kind === 'ranges') {
    throw new EngineError(
      'invalid_input',
      `${source.name} is read by byte ranges, which only Parquet needs`,
      {
        details: [{ path: 'format', reason: `${format} is read as a stream` }],
        hint: 'Import it as a stream (an upload, or a URL import of a CSV or NDJSON file)',
      },
    );
  }
  const totalBytes =
    source.kind === 'file'
      ? fileSize(source.path)
      : source.kind === 'ranges'
        ? source.buffer.byteLength
        : source.totalBytes;
  const store = rt.store;
  const maxListed = options.maxRejectedListed ?? 1000;
  const keyNamespace = (options.csvKeyNamespace ?? 'CRMID').toUpperCase();
  const key = options.key ?? rt.store.newId('imp');
  if (key.length === 0 || key.length > 200) {
    throw new EngineError('invalid_input', 'An import key is 1–200 characters', {
      details: [{ path: 'key', reason: `${key.length} characters` }],
    });
  }
  const progress = { bytesRead: 0 };
  // The sandbox's context the batches are evaluated and written under; read again when a re-keying starts or ends
  // during the import (see `writeNext`).
  let context = await loadSandboxContext(
    store.db as unknown as Db,
    options.sandboxId,
    rt.tuning.profileKeyNamespaces,
  );
  const initialContext = context;
  const claim = await claimImport(rt, {
    sandboxId: options.sandboxId,
    key,
    format,
    mode,
    segmentId: mode === 'mirror' ? options.segmentId! : null,
    keyNamespace,
    batchSize: Math.max(1, options.batchSize ?? 20_000),
    keyGeneration: context.keyGeneration,
  });
  if (claim.complete) return { ...claim.report!, replayed: true, thisCall: { accepted: 0, excluded: {} } };
  // A resumed import cuts its batches as the first attempt did, so the committed rows are whole batches.
  const batchSize = claim.batchSize;
  const importId = claim.id;
  const report: ImportReport = {
    ...(claim.report ?? emptyReport(format, mode, key, claim.attempt)),
    attempts: claim.attempt,
  };
  const before = { accepted: report.accepted, excluded: { ...report.excluded } };
  // What the batches committed so far hold (restored from the last attempt), and the rows to skip to get past them.
  let rowsCommitted = claim.rowsCommitted;
  let digest = claim.digest;
  let skip = { rows: 0, digest: '' };
  const skipping = () => skip.rows < claim.rowsCommitted;
  // A skipped batch: counted into the digest chain, which must equal the committed one once all are skipped.
  const skipBatch = (task: ImportTask, rows: number) => {
    skip = { rows: skip.rows + rows, digest: chainDigest(skip.digest, batchDigest(task)) };
    if (
      skip.rows >= claim.rowsCommitted &&
      (skip.rows !== claim.rowsCommitted || skip.digest !== claim.digest)
    )
      throw notTheSameFile(key, claim.rowsCommitted);
  };

  // Applies a batch of evaluated profiles in one transaction, with the import's progress through it.
  const writeBatch = async (
    evaluations: ProfileEvaluation[],
    seen: string[],
    extra: ApplyExtra,
    batch: { rows: number; digest: string },
  ) => {
    const now = rt.now();
    const next = { rowsCommitted: rowsCommitted + batch.rows, digest: chainDigest(digest, batch.digest) };
    // The report as it stands once this batch is in: written with it, so a resumed import goes on from it.
    const reportAfter = (written: number): ImportReport => ({
      ...report,
      accepted: report.accepted + evaluations.length,
      ledgerWrites: report.ledgerWrites + written,
    });
    let after: ImportReport;
    if (store.sqlite) {
      after = await store.sqlite.exclusiveDurable((database) =>
        database.transaction(() => {
          // Keys are made once, for the whole file: the sandbox must still key profiles the same way.
          if (!sameKeyNamespacesSqlite(database, context, rt.tuning.profileKeyNamespaces))
            throw keyNamespacesChanged();
          const written = applyEvaluationsSqlite(database, context, evaluations, now, report.excluded, extra);
          const insert = database.prepare(
            'insert or ignore into engine_import_seen (import_id, profile_key) values (?, ?)',
          );
          for (const key of seen) insert.run(importId, key);
          const reported = reportAfter(written);
          writeImportProgressSqlite(database, claim, { ...next, report: reported }, now);
          return reported;
        })(),
      );
    } else {
      // A run rolled back for a deadlock with another process's runs again, from what was counted before it.
      const excludedBefore = { ...report.excluded };
      const seenBefore = seen.length;
      after = await retryTransientConflicts(() => {
        report.excluded = { ...excludedBefore };
        seen.length = seenBefore;
        return store.transaction(async (tx) => {
          const db = tx.db as unknown as Db;
          await lockSandboxProfiles(db, store.capabilities, context.sandboxId);
          if (!(await sameKeyNamespaces(db, context, rt.tuning.profileKeyNamespaces, { shareLock: true })))
            throw keyNamespacesChanged();
          const written = await applyEvaluations(
            db,
            store,
            context,
            evaluations,
            now,
            report.excluded,
            extra,
          );
          for (const chunk of chunkRows(seen, 2, store.capabilities)) {
            await db
              .insertInto('engine_import_seen')
              .values(chunk.map((key) => ({ import_id: importId, profile_key: key })))
              .onConflict((oc) => oc.doNothing())
              .execute();
          }
          const reported = reportAfter(written);
          await writeImportProgress(db, claim, { ...next, report: reported }, now);
          return reported;
        });
      });
      // New profiles and members: the next batches' lookups are planned on statistics that know of them.
      await store.statistics.wrote({
        engine_profiles: evaluations.length,
        engine_ledger: after.ledgerWrites - report.ledgerWrites,
        engine_import_seen: seen.length,
      });
    }
    report.accepted = after.accepted;
    report.ledgerWrites = after.ledgerWrites;
    rowsCommitted = next.rowsCommitted;
    digest = next.digest;
    options.onProgress?.({ rowsRead: report.rowsRead, bytesRead: progress.bytesRead, totalBytes });
  };
  // The last row rejected, listed or not: an NDJSON file's last line may turn out to be cut off (see below).
  let lastRejected: { line: number; errors: ItemErrors } | null = null;
  const reject = (row: { line: number; errors: ItemErrors; fatal?: boolean }) => {
    if (row.fatal) report.truncated = true;
    report.rejectedCount += 1;
    lastRejected = row;
    if (report.rejected.length < maxListed) report.rejected.push({ line: row.line, errors: row.errors });
  };

  // Batches are parsed and hashed on worker threads while this thread writes the previous ones, in file order; without
  // threads the same work runs here, one batch at a time.
  // A source of unknown size (an upload without a length) is taken to be large.
  const threads =
    options.threads ?? (totalBytes === null || totalBytes >= 1024 * 1024 ? rt.tuning.importThreads : 0);
  const pool =
    threads > 0
      ? new ThreadPool<ImportTask, EncodedBatch>({
          size: threads,
          entry: new URL('./import-worker.ts', import.meta.url),
          data: { profileKey: new Uint8Array(store.secrets.profileKeyMaterial()) },
        })
      : null;
  /** A worker's items stay packed until their batch is written: decoded then, their objects die young. */
  type EvaluatedBatch = { rows: number; digest: string; items: EvaluatedItem[] | string };
  /**
   * A batch read from the source, in file order: queued here, handed to a worker thread (`pool`), or evaluated on
   * this thread (`here`). `done` is set once it is handed out; `settled` once its evaluation is in.
   */
  interface Batch {
    task: ImportTask;
    rows: number;
    where: 'queued' | 'pool' | 'here';
    done: Promise<EvaluatedBatch> | null;
    settled: boolean;
  }
  let plain = plainEvaluationContext(context);
  // A batch is evaluated under the context current when it is handed out.
  const evaluateHere = (batch: Batch) => {
    const task = { ...batch.task, context: plain };
    batch.where = 'here';
    batch.settled = true;
    batch.done = Promise.resolve({
      rows: batch.rows,
      digest: batchDigest(task),
      items: evaluateImportItems(task, store.profileKeyHash),
    });
  };
  const inFlight: Batch[] = [];
  // Batches a worker holds (evaluating one, the next waiting in its queue) and batches read ahead of the writes:
  // enough that no worker waits while this thread writes.
  const atWorkers = threads * 2;
  const readAhead = threads === 0 ? 0 : atWorkers + 2;
  const handOut = () => {
    if (!pool) return;
    let busy = 0;
    for (const batch of inFlight) if (batch.where === 'pool' && !batch.settled) busy += 1;
    for (const batch of inFlight) {
      if (busy >= atWorkers) return;
      if (batch.where !== 'queued') continue;
      const task = { ...batch.task, context: plain };
      batch.where = 'pool';
      const done = pool.run(task).then((result) => ({
        rows: batch.rows,
        digest: result.digest,
        items: result.items,
      }));
      batch.done = done;
      busy += 1;
      // A finished batch makes room at the workers for the next one at once, whatever this thread is waiting on.
      done.then(
        () => {
          if (batch.done !== done) return;
          batch.settled = true;
          handOut();
        },
        () => {
          if (batch.done === done) batch.settled = true;
        },
      );
    }
  };
  // True once batches were keyed under more than one set of keys (mirror mode then removes nobody, see below): batches
  // keyed again during this attempt, or earlier attempts keyed under other keys (a re-keying began or ended since).
  let keysChanged = claim.keyGeneration !== null && claim.keyGeneration !== context.keyGeneration;
  const writeNext = async () => {
    const next = inFlight[0]!;
    for (let attempt = 1; ; attempt += 1) {
      // While a worker still evaluates the next batch to write, this thread evaluates the last one queued instead of
      // waiting: the threads share the work, whichever is the slower. Each one taken lets the event loop turn, so a
      // worker's answer that came meanwhile is seen before taking another.
      while (next.where === 'pool' && !next.settled) {
        const last = inFlight.findLast((batch) => batch.where === 'queued');
        if (!last) break;
        evaluateHere(last);
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (next.where === 'queued') evaluateHere(next);
      const batch = await next.done!;
      const before = {
        rowsRead: report.rowsRead,
        rejectedCount: report.rejectedCount,
        listed: report.rejected.length,
        truncated: report.truncated,
        excluded: { ...report.excluded },
      };
      const evaluations: ProfileEvaluation[] = [];
      const items = typeof batch.items === 'string' ? decodeEvaluatedItems(batch.items) : batch.items;
      for (const item of items) {
        report.rowsRead += 1;
        if ('errors' in item) reject(item);
        else evaluations.push(item.evaluation);
      }
      const seen: string[] = [];
      const extra: ApplyExtra =
        mode === 'mirror' ? { forceMember: options.segmentId!, seen: (key: string) => seen.push(key) } : {};
      for (const evaluation of evaluations) adjustEvaluation(evaluation, extra);
      try {
        await writeBatch(evaluations, seen, extra, batch);
        inFlight.shift();
        handOut();
        return;
      } catch (error) {
        // A re-keying started or ended since the batches were keyed, or the sandbox began looking later key
        // namespaces up (the transaction wrote nothing): the import goes on under the sandbox's keys as they are now,
        // with this batch and those queued evaluated again.
        if (!(error instanceof EngineError && error.code === 'context_changed') || attempt >= 3) throw error;
        const { excluded, listed, ...counts } = before;
        Object.assign(report, counts, { excluded });
        report.rejected.length = listed;
        // The first profile keyed by a later key namespace: the exports look such keys up from now on.
        if (isKeyAliasesNeeded(error)) await enableKeyAliases(store, options.sandboxId);
        const keyedUnder = context;
        context = await loadSandboxContext(
          store.db as unknown as Db,
          options.sandboxId,
          rt.tuning.profileKeyNamespaces,
        );
        // Looking later namespaces up (here or by another writer) leaves every key as it was.
        if (!sameKeys(keyedUnder, context)) keysChanged = true;
        plain = plainEvaluationContext(context);
        // Settle the old evaluations first: a worker's failure must not go unheard.
        await Promise.allSettled(inFlight.map((queued) => queued.done));
        for (const queued of inFlight) Object.assign(queued, { where: 'queued', done: null, settled: false });
        handOut();
      }
    }
  };
  const send = async (task: ImportTask, rows: number) => {
    if (skipping()) return skipBatch(task, rows);
    inFlight.push({ task, rows, where: 'queued', done: null, settled: false });
    handOut();
    if (inFlight.length > readAhead) await writeNext();
  };
  // A long batch (a slow upload) must not pass for a dead attempt.
  const heartbeat = setInterval(
    () => void heartbeatImport(rt, claim).catch(() => {}),
    Math.max(10, rt.tuning.importStaleMs / 4),
  );
  heartbeat.unref();
  // The header of a CSV or Parquet file, once read: its segment columns are checked against the activations.
  let csvLayout: CsvProfileLayout | null = null;
  try {
    if (format === 'csv' || format === 'parquet') {
      const csv = {
        kind: 'csv' as const,
        keyNamespace,
        lastQualificationTime: new Date(rt.now()).toISOString(),
        context: plain,
      };
      let records: Array<{ line: number; record: string[] }> = [];
      let layout: CsvProfileLayout | null = null;
      let fatal: { line: number; errors: ItemErrors; fatal: true } | null = null;
      const rows =
        format === 'parquet' && source.kind !== 'stream'
          ? readParquetRecords(source, progress)
          : readCsvRecords(source, progress);
      for await (const row of rows) {
        if ('errors' in row) {
          fatal = row;
          break;
        }
        layout = row.layout;
        records.push({ line: row.line, record: row.record });
        if (records.length < batchSize) continue;
        await send({ ...csv, layout, records }, records.length);
        records = [];
      }
      if (layout !== null && records.length > 0) await send({ ...csv, layout, records }, records.length);
      while (inFlight.length > 0) await writeNext();
      csvLayout = layout;
      if (fatal) {
        report.rowsRead += 1;
        reject(fatal);
      }
    } else if (format === 'ndjson') {
      // The file's last line when no line break ends it.
      let openLine: number | null = null;
      for await (const { chunk, firstLine, lines, open } of readLineChunks(source, batchSize, progress)) {
        if (open) openLine = firstLine + lines - 1;
        await send({ kind: 'ndjson', chunk, firstLine, context: plain }, lines);
      }
      while (inFlight.length > 0) await writeNext();
      if (openLine !== null) cutOffLastLine(report, openLine, lastRejected);
    } else {
      let items: Array<{ line: number; text: string }> = [];
      for await (const item of readArrayItems(source, progress)) {
        items.push(item);
        if (items.length < batchSize) continue;
        await send({ kind: 'json', items, context: plain }, items.length);
        items = [];
      }
      if (items.length > 0) await send({ kind: 'json', items, context: plain }, items.length);
      while (inFlight.length > 0) await writeNext();
    }
    // The file ended within the rows the import had committed: it is shorter than the one it started with.
    if (skipping()) throw notTheSameFile(key, claim.rowsCommitted);
    // A mirror file without rows would remove every member: an export that came out empty, far more likely than a
    // segment that emptied. Refused, so that the file sent again under the same key, once whole, is imported.
    if (mode === 'mirror' && report.rowsRead === 0) throw noRowsToMirror(nameOf(source), options.segmentId!);
    if (mode === 'mirror' && !report.truncated) {
      // A file read only in part is not the full audience: removing the rest would drop real members. Nor is one
      // whose rows were rejected by more than a few: each may be a member.
      // The rows are keyed under two sets of keys, and a profile another source moved to its new key meanwhile
      // would look absent.
      report.removalSkipped = keysChanged
        ? "The sandbox's profile keys changed during the import (a re-keying began or ended): every row was " +
          'imported, but nobody was removed. Import the file again in mirror mode (a new import) to remove the ' +
          'absent members'
        : mirrorRemovalRisk(report, options.maxRejectedShare);
      report.removalSkipped ??= await mirrorShrinkRisk(
        rt,
        context.sandboxId,
        options.segmentId!,
        importId,
        options.maxRemovedShare,
      );
      if (report.removalSkipped === null)
        await removeAbsent(rt, context, options.segmentId!, importId, report);
    }
    report.warnings =
      csvLayout === null
        ? []
        : [...unactivatedSegmentWarnings(csvLayout, context), ...unreadColumnWarnings(csvLayout, context)];
    await finishImport(rt, claim, { status: 'complete', report });
  } catch (error) {
    const cutOff = error instanceof EngineError && error.code === 'source_failed';
    // The batches read in full before the cut are whole: write them, so a resume has less to do again.
    if (cutOff)
      try {
        while (inFlight.length > 0) await writeNext();
      } catch {
        // The import stops here either way; the rows written so far stand.
      }
    const reason = cutOff
      ? `Reading ${nameOf(source)} failed: ${error.details.map((d) => d.reason).join('; ')}`
      : error instanceof Error
        ? error.message
        : String(error);
    await finishImport(rt, claim, { status: cutOff ? 'interrupted' : 'failed', error: reason }).catch(
      () => {},
    );
    if (!cutOff) throw error;
    // Say how to go on: the key, and what the next attempt will skip.
    throw new EngineError(
      'source_failed',
      `Reading ${nameOf(source)} failed before its end; ${rowsCommitted} rows of it are imported`,
      {
        cause: error,
        details: [...error.details, { path: 'key', reason: `resume with the import key ${key}` }],
        hint: `Import the same file again with the key ${key}: the rows imported are skipped and the rest follows`,
      },
    );
  } finally {
    clearInterval(heartbeat);
    // Settle what is still queued (after an error) before the workers go.
    await Promise.allSettled(inFlight.map((queued) => queued.done));
    await pool?.close();
    // Consent policies (or a destination's marketing actions) changed during the import: its batches were decided
    // under the old ones, so the audiences are evaluated again from the stored profiles.
    const now = await loadSandboxContext(
      store.db as unknown as Db,
      options.sandboxId,
      rt.tuning.profileKeyNamespaces,
    );
    if (consentStamp(now) !== consentStamp(initialContext))
      await reevaluateAudiences(store.db as unknown as Db, rt.now(), { sandboxId: options.sandboxId });
  }
  options.onProgress?.({ rowsRead: report.rowsRead, bytesRead: progress.bytesRead, totalBytes });
  const excluded: Record<string, number> = {};
  for (const [reason, n] of Object.entries(report.excluded))
    if (n > (before.excluded[reason] ?? 0)) excluded[reason] = n - (before.excluded[reason] ?? 0);
  report.thisCall = { accepted: report.accepted - before.accepted, excluded };
  return report;
}

/**
 * An NDJSON file whose last line, ended by no line break, is no JSON: an export or a download cut off mid-line, far
 * more likely than a line written so. The file was not read in full, as after a CSV quote never closed: `truncated`,
 * so mirror mode removes nobody, and the line's listed reason says so.
 */
function cutOffLastLine(
  report: ImportReport,
  line: number,
  lastRejected: { line: number; errors: ItemErrors } | null,
): void {
  if (lastRejected?.line !== line || lastRejected.errors[0]?.reason !== NOT_JSON) return;
  report.truncated = true;
  const listed = report.rejected.at(-1);
  if (listed?.line === line)
    listed.errors = [
      {
        path: `line ${line}`,
        reason:
          `${NOT_JSON}, and the file ends in it without a line break: the file looks cut off ` +
          '(an export or a download that stopped short), so it was not read in full',
      },
    ];
}

/** A resumed import whose file does not start with the rows the import committed. */
function notTheSameFile(key: string, rows: number): EngineError {
  return new EngineError(
    'conflict',
    `The file is not the one import ${key} started with: its first ${rows} rows differ from those the import committed`,
    {
      details: [{ path: 'key', reason: `${rows} rows committed` }],
      hint: 'Resume with the same file, or import this one with another key',
    },
  );
}

/** A mirror import whose file holds no rows: refused rather than taken for an empty segment. */
function noRowsToMirror(name: string, segmentId: string): EngineError {
  return new EngineError(
    'invalid_file',
    `${name} has no rows: in mirror mode it would remove every member of segment ${segmentId}, so nobody was removed`,
    {
      details: [{ path: name, reason: 'no rows (mirror mode takes the file for the whole segment)' }],
      hint:
        'Check that the export is complete and import it again (with the same key, if you gave one). To empty the ' +
        'segment, import its members as having left it (segment column 0, or status exited) in incremental mode',
    },
  );
}

/** Mirror mode: every known member of the segment the file did not list leaves it. */
/** The share of a mirror file's rows that may be rejected while its absent members are still removed. */
export const MIRROR_MAX_REJECTED_SHARE = 0.05;

/** Why mirror mode must remove nobody after reading this whole file, or null when it may remove the absent. */
export function mirrorRemovalRisk(
  report: Pick<ImportReport, 'rowsRead' | 'rejectedCount'>,
  maxShare = MIRROR_MAX_REJECTED_SHARE,
): string | null {
  if (report.rejectedCount <= maxShare * report.rowsRead) return null;
  return (
    `${report.rejectedCount} of ${report.rowsRead} rows were rejected (more than ${Number((maxShare * 100).toFixed(2))}%): ` +
    'a rejected row may be a member, so nobody was removed. Fix the rows and import the file again, or allow more ' +
    'rejected rows for this import (maxRejectedPercent in the API, --max-rejected in tca import)'
  );
}

/** The share of a segment's known members a mirror file may leave out, and so remove. */
export const MIRROR_MAX_REMOVED_SHARE = 0.9;

/** `segments like` this matches the profiles in the segment (their segments are a JSON array of ids). */
function segmentNeedle(segmentId: string): string {
  return `%${JSON.stringify(segmentId).replace(/[%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Why a mirror import that read its whole file must remove nobody because it would remove too many, or null: more
 * than `maxShare` of the segment's known members (those the file listed among them) are absent from it.
 */
async function mirrorShrinkRisk(
  rt: EngineRuntime,
  sandboxId: string,
  segmentId: string,
  importId: string,
  maxShare = MIRROR_MAX_REMOVED_SHARE,
): Promise<string | null> {
  const db = rt.store.db as unknown as Db;
  const { known, absent } = await db
    .selectFrom('engine_profiles as p')
    .select(({ fn, exists, selectFrom }) => [
      fn.countAll<number>().as('known'),
      fn
        .sum<number>(
          sql`case when ${exists(
            selectFrom('engine_import_seen as s')
              .select('s.profile_key')
              .where('s.import_id', '=', importId)
              .whereRef('s.profile_key', '=', 'p.profile_key'),
          )} then 0 else 1 end`,
        )
        .as('absent'),
    ])
    .where('p.sandbox_id', '=', sandboxId)
    .where(sql<boolean>`p.segments like ${segmentNeedle(segmentId)} escape '\\'`)
    .executeTakeFirstOrThrow();
  const removing = Number(absent ?? 0);
  if (removing === 0 || removing <= maxShare * Number(known)) return null;
  const percent = Number((maxShare * 100).toFixed(2));
  return (
    `${removing} of the segment's ${Number(known)} known members are absent from the file (more than ${percent}%): ` +
    'an export cut short or a query that went wrong would empty the audience, so nobody was removed. If the segment ' +
    'really shrank that much, import the file again allowing it (maxRemovedPercent in the API, --max-removed in tca ' +
    'import)'
  );
}

async function removeAbsent(
  rt: EngineRuntime,
  context: SandboxContext,
  segmentId: string,
  importId: string,
  /** The import's report: `removed` grows with each committed chunk, stored with it (see below). */
  report: ImportReport,
): Promise<void> {
  const needle = segmentNeedle(segmentId);
  const audiences = context.dataflows.flatMap((d) =>
    d.audiences.filter((a) => a.segmentId === segmentId && audienceActive(a, rt.now())),
  );
  let after = 0;
  for (;;) {
    const count = await rt.store.transaction(async (tx) => {
      const db = tx.db as unknown as Db;
      await lockSandboxProfiles(db, rt.store.capabilities, context.sandboxId);
      const rows = await db
        .selectFrom('engine_profiles as p')
        .select(['p.id', 'p.segments'])
        .where('p.id', '>', after)
        .where('p.sandbox_id', '=', context.sandboxId)
        .where(sql<boolean>`p.segments like ${needle} escape '\\'`)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('engine_import_seen as s')
                .select('s.profile_key')
                .where('s.import_id', '=', importId)
                .whereRef('s.profile_key', '=', 'p.profile_key'),
            ),
          ),
        )
        .orderBy('p.id')
        .limit(2000)
        .execute();
      const writes: DesiredWrite[] = [];
      for (const row of rows) {
        const segments = (JSON.parse(row.segments) as string[]).filter((s) => s !== segmentId);
        await db
          .updateTable('engine_profiles')
          .set({ segments: JSON.stringify(segments), updated_at: rt.now() })
          .where('id', '=', row.id)
          .execute();
        for (const audience of audiences)
          writes.push({ audienceId: audience.id, member: String(row.id), desired: null });
      }
      await writeDesired(db, rt.store.capabilities, writes, rt.now());
      const last = rows[rows.length - 1];
      if (last) {
        after = last.id;
        // Counted in the stored report in the transaction that removes them: an attempt killed before the import
        // completes is resumed from that report, finds these members gone, and still reports them.
        await db
          .updateTable('engine_imports')
          .set({ report: JSON.stringify({ ...report, removed: report.removed + rows.length }) })
          .where('id', '=', importId)
          .execute();
      }
      return rows.length;
    });
    report.removed += count;
    if (count < 2000) break;
  }
}
