import { open, type FileHandle } from 'node:fs/promises';
import {
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
  type AsyncBuffer,
  type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

/*
 * Parquet files read as the CSV profile model (see `csv-profile-row.ts`): the top-level column names are the header,
 * and each row becomes the cells a CSV row would hold. Parquet is read from its footer backwards, so it needs a file
 * (random access), not a stream; it is read one row group at a time, so memory follows the row group size.
 */

/** Why a file cannot be read as profile rows: what, where, and how to fix it. */
export class ParquetFileError extends Error {
  constructor(
    message: string,
    readonly details: Array<{ path: string; reason: string }>,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ParquetFileError';
  }
}

/** The 4 bytes a Parquet file starts (and ends) with. */
export const PARQUET_MAGIC = 'PAR1';

/**
 * One Parquet value as the text of a CSV cell: null is empty, booleans `true`/`false`, numbers and big integers in
 * decimal, timestamps in ISO 8601, a list its values joined by `|` (how a CSV cell holds several identities).
 *
 * @example
 * parquetCell(['a@example.com', 'b@example.com']); // 'a@example.com|b@example.com'
 */
export function parquetCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value))
    return value
      .map(parquetCell)
      .filter((cell) => cell !== '')
      .join('|');
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  if (typeof value === 'object')
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  return String(value);
}

/** A top-level column a profile row can use: a primitive, or a list of primitives. */
function columnProblem(column: SchemaTree): string | null {
  if (column.children.length === 0) return null;
  const annotation = column.element.logical_type?.type ?? column.element.converted_type;
  if (annotation === 'LIST') {
    // LIST: a repeated group (or a repeated primitive) holding one element.
    const repeated = column.children[0];
    const element = repeated && repeated.children.length > 0 ? repeated.children[0] : repeated;
    if (repeated && repeated.children.length <= 1 && element && element.children.length === 0) return null;
    return 'is a list of nested values';
  }
  return annotation === 'MAP' ? 'is a map' : 'is a nested group (a struct)';
}

/** A Parquet file opened for row-group reads, counting the bytes read. */
class FileBuffer implements AsyncBuffer {
  constructor(
    private readonly handle: FileHandle,
    readonly byteLength: number,
    private readonly progress: { bytesRead: number },
  ) {}

  async slice(start: number, end = this.byteLength): Promise<ArrayBuffer> {
    const length = Math.max(0, end - start);
    const buffer = new ArrayBuffer(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(
        new Uint8Array(buffer, done),
        0,
        length - done,
        start + done,
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.progress.bytesRead += done;
    return buffer;
  }
}

/**
 * The rows of a Parquet file as CSV cells: first the header (the column names), then each row with its 1-based
 * number. Nested columns (structs, maps, lists of structs) are refused before any row is read.
 */
export async function* readParquetRows(
  path: string,
  progress: { bytesRead: number } = { bytesRead: 0 },
): AsyncGenerator<{ header: string[] } | { row: number; cells: string[] }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new ParquetFileError(`Cannot open ${path}`, [{ path, reason: String(error) }], 'Check the path', {
      cause: error,
    });
  }
  try {
    const { size } = await handle.stat();
    const file = new FileBuffer(handle, size, progress);
    let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (error) {
      throw new ParquetFileError(
        `${path} is not a Parquet file`,
        [{ path, reason: error instanceof Error ? error.message : String(error) }],
        'Send a whole .parquet file (not gzipped: Parquet compresses its own pages), or a CSV or NDJSON file',
        { cause: error },
      );
    }
    const columns = parquetSchema(metadata).children;
    const problems = columns.flatMap((column) => {
      const problem = columnProblem(column);
      return problem === null
        ? []
        : [{ path: `column ${JSON.stringify(column.element.name)}`, reason: problem }];
    });
    if (problems.length > 0) {
      throw new ParquetFileError(
        `${path} has columns a profile row cannot hold`,
        problems,
        'Flatten them in the query that writes the file: one column per identity namespace, segment or attribute ' +
          '(a list of strings is fine for several identities)',
      );
    }
    yield { header: columns.map((column) => column.element.name) };
    let row = 0;
    for (const group of metadata.row_groups) {
      const rowStart = row;
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: unknown[][] = [];
      try {
        await parquetRead({
          file,
          metadata,
          compressors,
          rowStart,
          rowEnd,
          onComplete: (read) => {
            rows = read;
          },
        });
      } catch (error) {
        throw new ParquetFileError(
          `${path}: rows ${rowStart + 1}–${rowEnd} cannot be read`,
          [
            {
              path: `rows ${rowStart + 1}–${rowEnd}`,
              reason: error instanceof Error ? error.message : String(error),
            },
          ],
          'The file is damaged or uses an encoding this reader lacks: write it again, or export CSV',
          { cause: error },
        );
      }
      for (const values of rows) {
        row += 1;
        yield { row, cells: values.map(parquetCell) };
      }
      row = rowEnd;
    }
  } finally {
    await handle.close();
  }
}
