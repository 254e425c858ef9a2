import { ApiError } from './api.ts';

/**
 * A Parquet file read in this browser, a row group at a time, as the CSV the imports API takes: its column names are
 * the header (see `src/profile/parquet-rows.ts`). The reader loads only when a Parquet file is imported.
 */
export async function parquetAsCsv(file: Blob & { name: string }): Promise<Blob> {
  const [{ readParquetRows, ParquetFileError }, { csvField }] = await Promise.all([
    import('../../src/profile/parquet-rows.ts'),
    import('../../src/profile/csv-profile-row.ts'),
  ]);
  const buffer = {
    byteLength: file.size,
    slice: (start: number, end?: number) => file.slice(start, end).arrayBuffer(),
  };
  const parts: string[] = [];
  let chunk = '';
  try {
    for await (const item of readParquetRows(buffer, file.name)) {
      const cells = 'header' in item ? item.header : item.cells;
      chunk += `${cells.map(csvField).join(',')}\n`;
      if (chunk.length >= 1 << 20) {
        parts.push(chunk);
        chunk = '';
      }
    }
  } catch (error) {
    if (!(error instanceof ParquetFileError)) throw error;
    throw new ApiError({
      status: 400,
      code: 'invalid_file',
      message: `${error.message}. ${error.hint}`,
      details: error.details,
    });
  }
  parts.push(chunk);
  return new Blob(parts, { type: 'text/csv' });
}
