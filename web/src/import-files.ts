import { csvField, csvHeaderText } from '../../src/profile/csv-profile-row.ts';
import { ApiError, type FileFormat } from './api.ts';

/*
 * What the Import tab uploads for the files picked. One file goes as it is (gzip stays compressed: the service
 * decompresses it), a Parquet file as the CSV it reads as. Several files (the parts of one export) go as one: NDJSON
 * parts one after another, CSV parts under the first part's header (each part's own header checked and left out),
 * Parquet parts as one CSV, gzip parts decompressed here. The same rules as `tca import` (src/cli/commands/import-body.ts).
 */

function refused(message: string, details: Array<{ path: string; reason: string }> = []): ApiError {
  return new ApiError({ status: 400, code: 'invalid_file', message, details });
}

/** A file's text, decompressed when it is gzip (it starts with 1f 8b). */
async function textOf(file: File): Promise<string> {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  if (head[0] !== 0x1f || head[1] !== 0x8b) return file.text();
  return new Response(file.stream().pipeThrough(new DecompressionStream('gzip'))).text();
}

/** The first line (without its line break and a byte order mark) and what follows it. */
function splitHeader(text: string): { header: string; rest: string } {
  const nl = text.indexOf('\n');
  const first = nl === -1 ? text : text.slice(0, nl);
  return {
    header: csvHeaderText(first),
    rest: nl === -1 ? '' : text.slice(nl + 1),
  };
}

const ended = (text: string) => (text === '' || text.endsWith('\n') ? text : `${text}\n`);

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
  const texts = await Promise.all(files.map(textOf));
  if (format === 'ndjson') return new Blob(texts.map(ended), { type: 'application/x-ndjson' });
  const first = splitHeader(texts[0]!).header;
  const parts = [ended(texts[0]!)];
  for (const [index, text] of texts.entries()) {
    if (index === 0) continue;
    const { header, rest } = splitHeader(text);
    if (header !== first)
      throw refused(
        `The CSV files do not share one header: ${files[index]!.name} differs from ${files[0]!.name}`,
        [
          { path: files[0]!.name, reason: first },
          { path: files[index]!.name, reason: header },
        ],
      );
    parts.push(ended(rest));
  }
  return new Blob(parts, { type: 'text/csv' });
}
