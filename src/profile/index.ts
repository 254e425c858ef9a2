export {
  parseProfileExport,
  isSegmentStatus,
  SEGMENT_STATUSES,
  AUTHENTICATED_STATES,
  type ProfileExport,
  type SegmentMembership,
  type SegmentStatus,
  type IdentityEntry,
  type AuthenticatedState,
  type ProfileError,
  type ProfileParseResult,
} from './profile-export.ts';
export {
  parseCsvProfileHeader,
  parseCsvProfileRow,
  csvField,
  csvHeaderText,
  CSV_IDENTITY_COLUMNS,
  DEFAULT_SEGMENT_NAMESPACE,
  type CsvColumn,
  type CsvProfileLayout,
  type CsvHeaderResult,
  type CsvRowResult,
} from './csv-profile-row.ts';
export { PARQUET_MAGIC, ParquetFileError, parquetCell, readParquetRows } from './parquet-rows.ts';
export { readParquetFile } from './parquet-file.ts';
export { fileFormatOf, namedFileFormat, type FileFormat } from './file-format.ts';
