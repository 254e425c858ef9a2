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
 * and each row becomes the cells a CSV row would hold. Parquet is read from its footer backwards, so it needs random
 * access (a file, or a browser's File), not a stream; it is read one row group at a time, so memory follows the row
 * group size. No Node.js API here: the console reads Parquet in the browser with the same code.
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

/** What `readParquetRows` yields: the header (column names, rows the metadata counts), then each row's cells. */
export type ParquetItem = { header: string[]; rows: number } | { row: number; cells: string[] };

const utf8 = new TextDecoder();

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
  if (value instanceof Uint8Array) return utf8.decode(value);
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

/**
 * The rows of a Parquet file (`name` says which, in messages) as CSV cells: first the header (the column names, and
 * the number of rows the file's metadata counts), then each row with its 1-based number. Nested columns (structs,
 * maps, lists of structs) are refused before any row is read. Errors `passOn` accepts (the reader's own, such as a
 * download that failed) are thrown as they are, not as a damaged file.
 */
export async function* readParquetRows(
  file: AsyncBuffer,
  name: string,
  passOn: (error: unknown) => boolean = () => false,
): AsyncGenerator<ParquetItem> {
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    if (passOn(error)) throw error;
    throw new ParquetFileError(
      `${name} is not a Parquet file`,
      [{ path: name, reason: error instanceof Error ? error.message : String(error) }],
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
      `${name} has columns a profile row cannot hold`,
      problems,
      'Flatten them in the query that writes the file: one column per identity namespace, segment or attribute ' +
        '(a list of strings is fine for several identities)',
    );
  }
  yield { header: columns.map((column) => column.element.name), rows: Number(metadata.num_rows) };
  let rowStart = 0;
  for (const group of metadata.row_groups) {
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
      if (passOn(error)) throw error;
      throw new ParquetFileError(
        `${name}: rows ${rowStart + 1}–${rowEnd} cannot be read`,
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
    for (let index = 0; index < rows.length; index += 1)
      yield { row: rowStart + index + 1, cells: rows[index]!.map(parquetCell) };
    rowStart = rowEnd;
  }
}
