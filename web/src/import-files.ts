import { csvField, csvHeaderText } from '../../src/profile/csv-profile-row.ts';
import { ApiError, type FileFormat, type ImportRecord } from './api.ts';

/*
 * What the Import tab uploads for the files picked. One file goes as it is (gzip stays compressed: the service
 * decompresses it), a Parquet file as the CSV it reads as. Several files (the parts of one export) go as one: NDJSON
 * parts one after another, CSV parts under the first part's header (each part's own header checked and left out),
 * Parquet parts as one CSV, gzip parts decompressed here (into Blobs, not strings). The same rules as `tca import` (src/cli/commands/import-body.ts).
 * Parts that are not compressed are joined as slices of the files picked, which the browser reads only as it uploads
 * them: only their first line and last byte are read here, whatever their size.
 */

function refused(message: string, details: Array<{ path: string; reason: string }> = []): ApiError {
  return new ApiError({ status: 400, code: 'invalid_file', message, details });
}

const isGzip = async (file: Blob) => {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
};

/**
 * What a part adds to the body, and its first line (a CSV part's header, without its line break and a byte order
 * mark). A gzip part is decompressed here into a Blob (which the browser keeps on disk when it is large, not in the
 * page's memory); any other is a slice of the file, read only as it is uploaded. Every part ends with a line break, so
 * the next one starts on a line of its own.
 */
async function partOf(file: Blob, withoutHeader: boolean): Promise<{ header: string; body: BlobPart[] }> {
  const part = (await isGzip(file))
    ? await new Response(file.stream().pipeThrough(new DecompressionStream('gzip'))).blob()
    : file;
  // The first line: read in growing pieces until its line break (or the end of the part).
  let nl = -1;
  let head = new Uint8Array(0);
  for (let size = 64 * 1024; nl === -1 && head.length < part.size; size *= 4) {
    head = new Uint8Array(await part.slice(0, size).arrayBuffer());
    nl = head.indexOf(0x0a);
  }
  const header = csvHeaderText(new TextDecoder().decode(nl === -1 ? head : head.subarray(0, nl)));
  const kept = withoutHeader ? part.slice(nl === -1 ? part.size : nl + 1) : part;
  const last = new Uint8Array(await kept.slice(-1).arrayBuffer());
  return { header, body: kept.size === 0 || last[0] === 0x0a ? [kept] : [kept, '\n'] };
}

/** Parquet files read in this browser, a row group at a time, as one CSV: their column names are the header. */
async function parquetAsCsv(files: readonly File[]): Promise<Blob> {
  // The Parquet reader loads only when a Parquet file is imported.
  const { readParquetRows, ParquetFileError } = await import('../../src/profile/parquet-rows.ts');
  const parts: string[] = [];
  let header: string[] | null = null;
  let chunk = '';
  try {
    for (const file of files) {
      const buffer = {
        byteLength: file.size,
        slice: (start: number, end?: number) => file.slice(start, end).arrayBuffer(),
      };
      for await (const item of readParquetRows(buffer, file.name)) {
        if ('header' in item) {
          if (header === null) {
            header = item.header;
            chunk += `${header.map(csvField).join(',')}\n`;
          } else if (item.header.join('\u0000') !== header.join('\u0000'))
            throw refused(
              `The Parquet files do not share their columns: ${file.name} differs from ${files[0]!.name}`,
              [
                { path: files[0]!.name, reason: header.join(', ') },
                { path: file.name, reason: item.header.join(', ') },
              ],
            );
          continue;
        }
        chunk += `${item.cells.map(csvField).join(',')}\n`;
        if (chunk.length >= 1 << 20) {
          parts.push(chunk);
          chunk = '';
        }
      }
    }
  } catch (error) {
    if (!(error instanceof ParquetFileError)) throw error;
    throw refused(`${error.message}. ${error.hint}`, error.details);
  }
  parts.push(chunk);
  return new Blob(parts, { type: 'text/csv' });
}

/** The body to upload for the files picked, in `format`; refused (before anything is sent) when they cannot be one. */
export async function importBlob(files: readonly File[], format: FileFormat): Promise<Blob> {
  if (format === 'parquet') return parquetAsCsv(files);
  if (files.length === 1) return files[0]!;
  if (format === 'json')
    throw refused(
      'JSON arrays cannot be joined into one import: export the parts as NDJSON (one profile per line)',
    );
  if (format === 'ndjson') {
    const parts = await Promise.all(files.map((file) => partOf(file, false)));
    return new Blob(
      parts.flatMap((p) => p.body),
      { type: 'application/x-ndjson' },
    );
  }
  const parts = await Promise.all(files.map((file, index) => partOf(file, index > 0)));
  const first = parts[0]!.header;
  for (const [index, part] of parts.entries()) {
    if (part.header !== first)
      throw refused(
        `The CSV files do not share one header: ${files[index]!.name} differs from ${files[0]!.name}`,
        [
          { path: files[0]!.name, reason: first },
          { path: files[index]!.name, reason: part.header },
        ],
      );
  }
  return new Blob(
    parts.flatMap((p) => p.body),
    { type: 'text/csv' },
  );
}

/**
 * Whether an import can be resumed: it stopped (interrupted, or failed) after writing rows, which a resume with the
 * same file skips before going on. The service takes any stopped import's key again, but one that stopped before its
 * first batch was written (a CSV header refused, say) has nothing to resume: importing the file again is the same.
 */
export function canResume(record: Pick<ImportRecord, 'status' | 'rowsCommitted'>): boolean {
  return (record.status === 'interrupted' || record.status === 'failed') && record.rowsCommitted > 0;
}
