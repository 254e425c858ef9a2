/** The formats a file of profiles comes in: NDJSON, a JSON array of profile exports, CSV rows, or Parquet columns. */
export type FileFormat = 'ndjson' | 'json' | 'csv' | 'parquet';

/**
 * The format a file name suggests: `.csv`, `.json`, `.parquet`, else NDJSON, a `.gz` suffix aside (gzip files are read
 * as their content). The CLI, the engine and the console all decide by it.
 *
 * @example
 * fileFormatOf('members.csv.gz'); // 'csv'
 */
export function fileFormatOf(name: string): FileFormat {
  return namedFileFormat(name) ?? 'ndjson';
}

/**
 * The format a name's extension names (`.csv`, `.json`, `.parquet`, `.ndjson`, `.jsonl`, a `.gz` suffix aside), or
 * null when it names none: for a URL's path, whose answer's media type may then decide.
 */
export function namedFileFormat(name: string): FileFormat | null {
  const lower = name.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  return null;
}
