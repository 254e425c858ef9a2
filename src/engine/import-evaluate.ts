import { createHash } from 'node:crypto';
import {
  parseCsvProfileRow,
  parseProfileExport,
  type CsvProfileLayout,
  type ProfileExport,
} from '../profile/index.ts';
import {
  decodeEvaluation,
  encodeEvaluation,
  EVALUATION_SEPARATOR,
  FIELD_SEPARATOR,
} from './evaluation-codec.ts';
import {
  evaluateProfile,
  evaluationContextOf,
  type PlainEvaluationContext,
  type ProfileEvaluation,
} from './profile-state.ts';

export type ItemErrors = Array<{ path: string; reason: string }>;

/** Why an NDJSON line or a JSON array item that does not parse is rejected (no message quotes what it held). */
export const NOT_JSON = 'not valid JSON';

/** One JSON item of an import file: the profile, or why it is not one. */
function parseImportItem(
  text: string,
): { ok: true; profile: ProfileExport } | { ok: false; errors: ItemErrors } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, errors: [{ path: '', reason: NOT_JSON }] };
  }
  const parsed = parseProfileExport(value);
  return parsed.ok
    ? { ok: true, profile: parsed.profile }
    : { ok: false, errors: parsed.errors.map((e) => ({ path: e.path, reason: e.reason })) };
}

/**
 * A batch of an import file for a worker thread: NDJSON bytes, JSON array items, or CSV records with the header's
 * layout.
 */
export type ImportTask =
  | { kind: 'json'; items: Array<{ line: number; text: string }>; context: PlainEvaluationContext }
  | {
      /** Whole NDJSON lines as read from the file (UTF-8), the first of them numbered `firstLine`. */
      kind: 'ndjson';
      chunk: Uint8Array;
      firstLine: number;
      context: PlainEvaluationContext;
    }
  | {
      kind: 'csv';
      layout: CsvProfileLayout;
      records: Array<{ line: number; record: string[] }>;
      /** The namespace a row's `profile_key` is hashed under, and the qualification time rows get. */
      keyNamespace: string;
      lastQualificationTime: string;
      context: PlainEvaluationContext;
    };

export type EvaluatedItem =
  { line: number; evaluation: ProfileEvaluation } | { line: number; errors: ItemErrors };

/**
 * The longest NDJSON line read as a profile (64 MiB): a profile is kilobytes, and a line beyond what a string holds
 * (512 MiB) would otherwise fail its whole batch, and the import with it.
 */
export const MAX_IMPORT_ITEM_BYTES = 64 * 1024 * 1024;

export interface ImportItemLimits {
  /** The longest NDJSON line evaluated; a longer one is rejected unread. */
  maxItemBytes?: number;
}

/** Parses, validates, maps and hashes a batch of import items (pure: runs on a worker thread). */
export function evaluateImportItems(
  task: ImportTask,
  profileKeyHash: (namespace: string, id: string) => string,
  limits: ImportItemLimits = {},
): EvaluatedItem[] {
  const items: EvaluatedItem[] = [];
  forEachImportItem(task, profileKeyHash, (item) => items.push(item), limits);
  return items;
}

/**
 * `evaluateImportItems` packed for the trip to the main thread (see `decodeEvaluatedItems`). Each item is packed as
 * soon as it is evaluated, so its objects die young instead of living until the batch is done.
 */
export function evaluateImportItemsEncoded(
  task: ImportTask,
  profileKeyHash: (namespace: string, id: string) => string,
): string {
  const parts: string[] = [];
  forEachImportItem(task, profileKeyHash, (item) => parts.push(encodeItem(item)));
  return parts.join(EVALUATION_SEPARATOR);
}

function forEachImportItem(
  task: ImportTask,
  profileKeyHash: (namespace: string, id: string) => string,
  emit: (item: EvaluatedItem) => void,
  { maxItemBytes = MAX_IMPORT_ITEM_BYTES }: ImportItemLimits = {},
): void {
  const context = evaluationContextOf(task.context);
  if (task.kind === 'csv') {
    const options = { lastQualificationTime: task.lastQualificationTime };
    for (const { line, record } of task.records) {
      // The report gives each rejected row its line: the paths name only the column.
      const parsed = parseCsvProfileRow(task.layout, record, options);
      if (!parsed.ok) {
        emit({ line, errors: parsed.errors.map((e) => ({ path: e.path, reason: e.reason })) });
        continue;
      }
      const evaluation = evaluateProfile(parsed.profile, context, profileKeyHash);
      // A CSV row carries its own key: the profile_key column, hashed like any profile key, under the import's
      // namespace (which a re-keying of the sandbox does not change).
      evaluation.key = `k:${profileKeyHash(task.keyNamespace, parsed.profileKey)}`;
      evaluation.previousKey = null;
      evaluation.aliasKeys = [];
      evaluation.laterAliasKeys = [];
      evaluation.laterKey = task.keyNamespace !== context.keyNamespaces[0];
      emit({ line, evaluation });
    }
    return;
  }
  const evaluate = (line: number, text: string): EvaluatedItem => {
    const parsed = parseImportItem(text);
    return parsed.ok
      ? { line, evaluation: evaluateProfile(parsed.profile, context, profileKeyHash) }
      : { line, errors: parsed.errors };
  };
  if (task.kind === 'json') {
    for (const { line, text } of task.items) emit(evaluate(line, text));
    return;
  }
  const bytes = Buffer.from(task.chunk.buffer, task.chunk.byteOffset, task.chunk.byteLength);
  if (bytes.byteLength > maxItemBytes) {
    // A chunk this large may hold a line too long to decode: each line is decoded alone, and one too long is rejected.
    let line = task.firstLine;
    for (let start = 0; start < bytes.length; line += 1) {
      let end = bytes.indexOf(10, start);
      if (end === -1) end = bytes.length;
      if (end - start > maxItemBytes) {
        const reason = `the line is longer than ${maxItemBytes} bytes, far more than a profile: not read`;
        emit({ line, errors: [{ path: '', reason }] });
      } else {
        const item = bytes.toString('utf8', start, end).trim();
        if (item !== '') emit(evaluate(line, item));
      }
      start = end + 1;
    }
    return;
  }
  const text = bytes.toString('utf8');
  let line = task.firstLine;
  for (let start = 0; start < text.length; line += 1) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const item = text.slice(start, end).trim();
    if (item !== '') emit(evaluate(line, item));
    start = end + 1;
  }
}

/**
 * SHA-256 (hex) of a batch's rows as read, to check that a resumed import reads the same rows as the attempt that
 * committed them: the NDJSON bytes; the JSON items' texts; the CSV header's layout and records.
 */
export function batchDigest(task: ImportTask): string {
  const hash = createHash('sha256');
  if (task.kind === 'ndjson') hash.update(task.chunk);
  else if (task.kind === 'json') for (const { text } of task.items) hash.update(text).update('\n');
  else {
    hash.update(JSON.stringify(task.layout)).update('\n');
    for (const { record } of task.records) hash.update(JSON.stringify(record)).update('\n');
  }
  return hash.digest('hex');
}

/** What a worker answers for a batch: its digest and its items packed by `evaluateImportItemsEncoded`. */
export interface EncodedBatch {
  digest: string;
  items: string;
}

/** One evaluated item as a line of `evaluateImportItemsEncoded`'s string: its line, then its errors or evaluation. */
function encodeItem(item: EvaluatedItem): string {
  return 'errors' in item
    ? `${item.line}${FIELD_SEPARATOR}e${FIELD_SEPARATOR}${JSON.stringify(item.errors)}`
    : `${item.line}${FIELD_SEPARATOR}v${FIELD_SEPARATOR}${encodeEvaluation(item.evaluation)}`;
}

/** The items `evaluateImportItemsEncoded` packed, as they were. */
export function decodeEvaluatedItems(text: string): EvaluatedItem[] {
  if (text === '') return [];
  return text.split(EVALUATION_SEPARATOR).map((part): EvaluatedItem => {
    const fields = part.split(FIELD_SEPARATOR);
    const line = Number(fields[0]);
    return fields[1] === 'e'
      ? { line, errors: JSON.parse(fields[2]!) as ItemErrors }
      : { line, evaluation: decodeEvaluation(fields, 2) };
  });
}
