import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { csvHeaderText } from '../../profile/csv-profile-row.ts';
import type { FileFormat } from '../../profile/file-format.ts';
import { CliError, EXIT } from './api-client.ts';
import { openPart, readParquetPart, type Part } from './import-source.ts';

/*
 * What `tca import` sends for its files (paths or URLs, see `import-source.ts`). One file goes as it is (gzip stays
 * compressed: the service decompresses it); a Parquet file goes as the CSV it reads as. Several files (the parts a
 * warehouse export is split into) go as one file: NDJSON parts one after another, CSV parts under the first part's
 * header (each part's own header checked against it and left out), Parquet parts as the CSV rows of each under one
 * header. So mirror mode sees the whole export, and an interrupted import resumes across the parts like across one
 * file.
 */

export type { Part } from './import-source.ts';

/**
 * The bytes of one attempt, made anew for each: `onProgress` gets the bytes read from the files so far and, for
 * Parquet, the rows.
 */
export type BodySource = (onProgress: (bytes: number, rows?: number) => void) => Promise<Readable>;

/** Where a part's lines are in the stream sent: its lines `first`..`last` are the part's `first - shift`... */
export interface PartLines {
  path: string;
  /** First and last line of the stream that come from this part. */
  first: number;
  last: number;
  /** The part's own line number of a stream line is `line - shift`. */
  shift: number;
}

/** A line of the stream sent, as the part and line it came from; null for a single file (its lines are its own). */
export type LineLocator = (line: number) => { path: string; line: number } | null;

/**
 * A part's content, decompressed when it is gzip (it starts with 1f 8b); `onBytes` counts the bytes read as stored.
 * Stopping early (a header read) closes the source and the decompressor.
 */
async function* contentOf(part: Part, onBytes: (bytes: number) => void): AsyncGenerator<Buffer> {
  const source = await openPart(part);
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let gunzip: ReturnType<typeof createGunzip> | null = null;
  try {
    // Enough of the start to tell gzip: a URL's first chunk may be a single byte.
    let head = Buffer.alloc(0);
    while (head.length < 2) {
      const next = await chunks.next();
      if (next.done) break;
      onBytes(next.value.length);
      head = Buffer.concat([head, next.value]);
    }
    const rest = async function* () {
      if (head.length > 0) yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
        onBytes(next.value.length);
        yield next.value;
      }
    };
    if (head[0] !== 0x1f || head[1] !== 0x8b) {
      yield* rest();
      return;
    }
    gunzip = createGunzip();
    // `pipeline` carries an error of either stream to the other, where the loop below throws it.
    pipeline(Readable.from(rest()), gunzip, () => undefined);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
  } finally {
    source.destroy();
    gunzip?.destroy();
  }
}

/** A part's content after its first line (the header of a CSV part, which the first part's stands for). */
async function* afterHeader(chunks: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  let inHeader = true;
  for await (const chunk of chunks) {
    if (!inHeader) yield chunk;
    else {
      const nl = chunk.indexOf(10);
      if (nl === -1) continue;
      inHeader = false;
      if (nl + 1 < chunk.length) yield chunk.subarray(nl + 1);
    }
  }
}

/** A part's first line, as a CSV header reads: only as much of the part as that line takes is read. */
async function headerOf(part: Part): Promise<string> {
  const head: Buffer[] = [];
  for await (const chunk of contentOf(part, () => undefined)) {
    const nl = chunk.indexOf(10);
    head.push(nl === -1 ? chunk : chunk.subarray(0, nl));
    // Leaving the loop closes the part (and its download).
    if (nl !== -1) break;
  }
  return csvHeaderText(Buffer.concat(head).toString('utf8'));
}

/** The line breaks in a chunk. */
function lineBreaks(chunk: Buffer): number {
  let count = 0;
  for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) count += 1;
  return count;
}

/**
 * The body for the files, checked before a byte is sent: every Parquet file readable with flat columns, and every part
 * after the first with the first one's header (CSV) or columns (Parquet). With several parts, `locate` gives what names
 * the file and line of a line of the stream sent (the parts' lines are counted as a body reads them; only a body never
 * read to its end makes it read them once more).
 */
export async function importBody(
  parts: readonly Part[],
  format: FileFormat,
): Promise<{ body: BodySource; locate: () => Promise<LineLocator> }> {
  if (parts.length > 1 && format === 'json')
    throw new CliError(
      'JSON arrays cannot be joined into one import: export the parts as NDJSON (one profile per line)',
      EXIT.usage,
    );
  if (format === 'parquet') return parquetBody(parts);
  if (parts.length === 1) {
    const part = parts[0]!;
    return {
      locate: async () => () => null,
      body: async (onProgress) => {
        const source = await openPart(part);
        let read = 0;
        source.on('data', (chunk: Buffer) => onProgress((read += chunk.length)));
        return source;
      },
    };
  }
  // Several parts: CSV parts must share the first one's header, checked before anything is sent (only their first
  // lines are read). Each part's lines are counted as it is sent, so a rejected line can be named once it is read.
  if (format === 'csv') {
    let header: string | null = null;
    for (const part of parts) {
      const own = await headerOf(part);
      if (header === null) header = own;
      else if (own !== header)
        throw new CliError(
          `The CSV parts do not share one header: ${part.name} differs from ${parts[0]!.name}`,
          EXIT.usage,
          [
            { path: parts[0]!.name, reason: header },
            { path: part.name, reason: own },
          ],
        );
    }
  }
  // Each part's lines, counted as the parts are joined: by the last body read to its end, or, when the service
  // answered without reading it all (an import replayed under its key), by reading the parts once more.
  let counted: PartLines[] | null = null;
  async function* joined(onBytes: (bytes: number) => void): AsyncGenerator<Buffer> {
    const lines: PartLines[] = [];
    let total = 0;
    for (const [index, part] of parts.entries()) {
      let chunks = contentOf(part, onBytes);
      if (format === 'csv' && index > 0) chunks = afterHeader(chunks);
      let sent = 0;
      let last = 10;
      for await (const chunk of chunks) {
        sent += lineBreaks(chunk);
        if (chunk.length > 0) last = chunk[chunk.length - 1]!;
        yield chunk;
      }
      // A part that does not end with a line break must not run into the next one's first line.
      if (last !== 10) {
        sent += 1;
        yield Buffer.from('\n');
      }
      // A CSV part after the first is sent without its header: its line 2 follows the lines before.
      const skipped = format === 'csv' && index > 0 ? 1 : 0;
      lines.push({ path: part.name, first: total + 1, last: total + sent, shift: total - skipped });
      total += sent;
    }
    counted = lines;
  }
  return {
    locate: async () => {
      if (counted === null) for await (const chunk of joined(() => undefined)) void chunk;
      return locator(counted!);
    },
    body: async (onProgress) => {
      let read = 0;
      return Readable.from(joined((bytes) => onProgress((read += bytes))));
    },
  };
}

function locator(lines: readonly PartLines[]): LineLocator {
  return (line) => {
    const part = lines.find((p) => line >= p.first && line <= p.last);
    return part ? { path: part.path, line: line - part.shift } : null;
  };
}

/**
 * Parquet files as CSV: their column names are the header, each row a line, read one row group at a time (Parquet is
 * read from its footer, so the service could not read it as it arrives). Every file is checked first: Parquet, flat
 * columns, and for several files the same columns as the first.
 */
async function parquetBody(
  parts: readonly Part[],
): Promise<{ body: BodySource; locate: () => Promise<LineLocator> }> {
  const { csvField, ParquetFileError } = await import('../../profile/index.ts');
  const whole = parts.find((part) => !part.ranges);
  if (whole)
    throw new CliError(
      `${whole.name} is served without byte ranges, which Parquet needs (it is read from its footer): ` +
        'download it and import the file',
      EXIT.refused,
    );
  const refused = (error: unknown) =>
    error instanceof ParquetFileError
      ? new CliError(`${error.message}. ${error.hint}`, EXIT.refused, error.details)
      : error;
  const lines: PartLines[] = [];
  let header: string[] | null = null;
  let total = 1;
  try {
    for (const part of parts) {
      // The header comes first, with the row count of the file's metadata: nothing else is read.
      let rows = 0;
      for await (const item of readParquetPart(part)) {
        if (!('header' in item)) break;
        if (header === null) header = item.header;
        else if (item.header.join('\u0000') !== header.join('\u0000'))
          throw new CliError(
            `The Parquet parts do not share their columns: ${part.name} differs from ${parts[0]!.name}`,
            EXIT.usage,
            [
              { path: parts[0]!.name, reason: header.join(', ') },
              { path: part.name, reason: item.header.join(', ') },
            ],
          );
        rows = item.rows;
        break;
      }
      // Row N of the part is line `total + N` of the stream; as a CSV of its own, line N + 1.
      lines.push({ path: part.name, first: total + 1, last: total + rows, shift: total - 1 });
      total += rows;
    }
  } catch (error) {
    throw refused(error);
  }
  const line = (cells: readonly string[]) => `${cells.map(csvField).join(',')}\n`;
  return {
    locate: async () => (parts.length > 1 ? locator(lines) : () => null),
    body: async (onProgress) =>
      Readable.from(
        (async function* () {
          let chunk = line(header ?? []);
          let done = 0;
          let rowsBefore = 0;
          try {
            for (const part of parts) {
              const progress = { bytesRead: 0 };
              let rows = 0;
              for await (const item of readParquetPart(part, progress)) {
                if ('header' in item) continue;
                rows = item.row;
                chunk += line(item.cells);
                if (chunk.length < 1 << 20) continue;
                yield Buffer.from(chunk);
                chunk = '';
                onProgress(done + progress.bytesRead, rowsBefore + rows);
              }
              done += progress.bytesRead;
              rowsBefore += rows;
            }
          } catch (error) {
            throw refused(error);
          }
          if (chunk !== '') yield Buffer.from(chunk);
        })(),
      ),
  };
}
