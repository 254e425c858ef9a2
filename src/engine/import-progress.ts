import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { EngineError } from './errors.ts';
import type { ImportFormat, ImportReport } from './import-file.ts';
import type { EngineRuntime } from './runtime.ts';
import type { Db } from './sql-helpers.ts';

/**
 * The durable record of a file import, so an interrupted one resumes where it stopped. Each batch's transaction also
 * writes the rows committed so far, a digest chain over those rows and the report so far; a resumed attempt skips the
 * committed rows (checking they are the same rows) and goes on with the rest.
 *
 * The digest of a batch is SHA-256 over its rows as read (`batchDigest` in `import-evaluate.ts`); the chain is
 * `sha256(previous chain + ':' + batch digest)`, starting from ''. Only digests are kept: no row content.
 */

export type ImportStatus = 'running' | 'interrupted' | 'failed' | 'complete';

export interface ImportSpec {
  sandboxId: string;
  key: string;
  format: ImportFormat;
  mode: 'incremental' | 'mirror';
  segmentId: string | null;
  keyNamespace: string;
  batchSize: number;
  /** The sandbox's profile key generation the import starts under. */
  keyGeneration: number;
}

/** What an attempt starts from. */
export interface ImportClaim {
  id: string;
  key: string;
  attempt: number;
  batchSize: number;
  rowsCommitted: number;
  digest: string;
  /** The report so far (null for a new import); the final one when `complete`. */
  report: ImportReport | null;
  complete: boolean;
  /** The profile key generation the import's first attempt started under (null: not recorded, see migration 0114). */
  keyGeneration: number | null;
}

/** An import as the API and CLI list it. */
export interface ImportView {
  key: string;
  status: ImportStatus;
  format: ImportFormat;
  mode: 'incremental' | 'mirror';
  segmentId: string | null;
  /** CSV: the namespace the `profile_key` column is hashed under. */
  keyNamespace: string;
  attempts: number;
  rowsCommitted: number;
  report: ImportReport;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export function chainDigest(previous: string, batchDigest: string): string {
  return createHash('sha256').update(`${previous}:${batchDigest}`).digest('hex');
}

/**
 * Starts an attempt of the import `spec.key`: a new one, or the next attempt of an unfinished one (with the same
 * format, mode and segment). A completed import is returned as it is. Refused while another attempt is alive.
 */
export async function claimImport(rt: EngineRuntime, spec: ImportSpec): Promise<ImportClaim> {
  const db = rt.store.db as unknown as Db;
  const now = rt.now();
  const id = rt.store.newId('imp');
  await db
    .insertInto('engine_imports')
    .values({
      sandbox_id: spec.sandboxId,
      key: spec.key,
      id,
      format: spec.format,
      mode: spec.mode,
      segment_id: spec.segmentId,
      key_namespace: spec.keyNamespace,
      status: 'running',
      attempts: 1,
      batch_size: spec.batchSize,
      rows_committed: 0,
      digest: '',
      report: 'null',
      error: null,
      key_gen: spec.keyGeneration,
      created_at: now,
      updated_at: now,
      finished_at: null,
    })
    .onConflict((oc) => oc.columns(['sandbox_id', 'key']).doNothing())
    .execute();
  const row = await db
    .selectFrom('engine_imports')
    .selectAll()
    .where('sandbox_id', '=', spec.sandboxId)
    .where('key', '=', spec.key)
    .executeTakeFirstOrThrow();
  const claim = (attempt: number): ImportClaim => ({
    id: row.id,
    key: row.key,
    attempt,
    batchSize: row.batch_size,
    rowsCommitted: Number(row.rows_committed),
    digest: row.digest,
    report: storedReport(row.report),
    complete: row.status === 'complete',
    keyGeneration: row.key_gen === null ? null : Number(row.key_gen),
  });
  if (row.id === id) return claim(1);

  const differences = [
    row.format !== spec.format && { path: 'format', reason: `was ${row.format}, now ${spec.format}` },
    row.mode !== spec.mode && { path: 'mode', reason: `was ${row.mode}, now ${spec.mode}` },
    row.segment_id !== spec.segmentId && {
      path: 'segmentId',
      reason: `was ${row.segment_id ?? 'none'}, now ${spec.segmentId ?? 'none'}`,
    },
    row.format === 'csv' &&
      row.key_namespace !== spec.keyNamespace && {
        path: 'keyNamespace',
        reason: `was ${row.key_namespace}, now ${spec.keyNamespace}`,
      },
  ].filter((d): d is { path: string; reason: string } => d !== false);
  if (differences.length > 0) {
    throw new EngineError(
      'conflict',
      `Import ${spec.key} was started with other options, so it cannot go on with these`,
      {
        details: differences,
        hint: 'Send it again with the options it started with, or use another key for a new import',
      },
    );
  }
  if (row.status === 'complete') return claim(row.attempts);
  const staleMs = rt.tuning.importStaleMs;
  if (row.status === 'running' && now - Number(row.updated_at) < staleMs) {
    throw new EngineError('too_soon', `Import ${spec.key} is still running`, {
      retryAt: Number(row.updated_at) + staleMs,
      details: [
        {
          path: 'key',
          reason: `its last batch was written at ${new Date(Number(row.updated_at)).toISOString()}`,
        },
      ],
      hint: `Wait for it to finish; an attempt that stopped without a word is taken over after ${staleMs / 1000} s`,
    });
  }
  // Only one caller moves the attempt on: a concurrent resume finds the count changed and is refused.
  const taken = await db
    .updateTable('engine_imports')
    .set({ status: 'running', attempts: row.attempts + 1, error: null, updated_at: now })
    .where('sandbox_id', '=', spec.sandboxId)
    .where('key', '=', spec.key)
    .where('attempts', '=', row.attempts)
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows) !== 1) {
    throw new EngineError('conflict', `Import ${spec.key} was resumed by another request just now`, {
      hint: 'Wait for that attempt to finish',
    });
  }
  return claim(row.attempts + 1);
}

/** The progress an attempt writes with each batch. */
export interface ImportProgressWrite {
  rowsCommitted: number;
  digest: string;
  report: ImportReport;
}

function superseded(key: string): EngineError {
  return new EngineError('conflict', `Import ${key} was taken over by a later attempt`, {
    hint: 'Only the latest attempt of an import writes; this one stops',
  });
}

/** Writes an attempt's progress inside its batch transaction on SQLite (throws when a later attempt took over). */
export function writeImportProgressSqlite(
  database: BetterSqlite3.Database,
  claim: ImportClaim,
  progress: ImportProgressWrite,
  now: number,
): void {
  const result = database
    .prepare(
      `update engine_imports set rows_committed = ?, digest = ?, report = ?, updated_at = ?
       where id = ? and attempts = ?`,
    )
    .run(
      progress.rowsCommitted,
      progress.digest,
      JSON.stringify(progress.report),
      now,
      claim.id,
      claim.attempt,
    );
  if (result.changes !== 1) throw superseded(claim.key);
}

/** Writes an attempt's progress inside its batch transaction (throws when a later attempt took over). */
export async function writeImportProgress(
  db: Db,
  claim: ImportClaim,
  progress: ImportProgressWrite,
  now: number,
): Promise<void> {
  const result = await db
    .updateTable('engine_imports')
    .set({
      rows_committed: progress.rowsCommitted,
      digest: progress.digest,
      report: JSON.stringify(progress.report),
      updated_at: now,
    })
    .where('id', '=', claim.id)
    .where('attempts', '=', claim.attempt)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw superseded(claim.key);
}

/** Proves the attempt is alive between batches; false once a later attempt took over. */
export async function heartbeatImport(rt: EngineRuntime, claim: ImportClaim): Promise<boolean> {
  const result = await (rt.store.db as unknown as Db)
    .updateTable('engine_imports')
    .set({ updated_at: rt.now() })
    .where('id', '=', claim.id)
    .where('attempts', '=', claim.attempt)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Ends an attempt: complete with its final report, or stopped (interrupted or failed) with the reason. */
export async function finishImport(
  rt: EngineRuntime,
  claim: ImportClaim,
  outcome: { status: 'complete'; report: ImportReport } | { status: 'interrupted' | 'failed'; error: string },
): Promise<void> {
  const now = rt.now();
  await rt.store.transaction(async (tx) => {
    const db = tx.db as unknown as Db;
    const result = await db
      .updateTable('engine_imports')
      .set(
        outcome.status === 'complete'
          ? {
              status: 'complete',
              report: JSON.stringify(outcome.report),
              error: null,
              updated_at: now,
              finished_at: now,
            }
          : { status: outcome.status, error: outcome.error, updated_at: now },
      )
      .where('id', '=', claim.id)
      .where('attempts', '=', claim.attempt)
      .executeTakeFirst();
    // A complete mirror import needs the keys it saw no more: they go with the commit that completes it, so a crash
    // right after cannot leave them behind. An attempt that lost its claim leaves them to the one that holds it.
    if (outcome.status === 'complete' && Number(result.numUpdatedRows) === 1)
      await db.deleteFrom('engine_import_seen').where('import_id', '=', claim.id).execute();
  });
}

type ImportRow = {
  key: string;
  status: string;
  format: string;
  mode: string;
  segment_id: string | null;
  key_namespace: string;
  attempts: number;
  rows_committed: number | string;
  report: string;
  error: string | null;
  created_at: number | string;
  updated_at: number | string;
  finished_at: number | string | null;
};

/** A stored report, with the fields added since it was written at their defaults. */
function storedReport(text: string): ImportReport | null {
  const report = JSON.parse(text) as ImportReport | null;
  return (
    report && { ...report, removalSkipped: report.removalSkipped ?? null, warnings: report.warnings ?? [] }
  );
}

function viewOf(row: ImportRow, now: number, staleMs: number): ImportView {
  const report = storedReport(row.report);
  // A running attempt that stopped writing long ago died with its process: say so.
  const status =
    row.status === 'running' && now - Number(row.updated_at) >= staleMs
      ? 'interrupted'
      : (row.status as ImportStatus);
  return {
    key: row.key,
    status,
    format: row.format as ImportFormat,
    mode: row.mode as 'incremental' | 'mirror',
    segmentId: row.segment_id,
    keyNamespace: row.key_namespace,
    attempts: row.attempts,
    rowsCommitted: Number(row.rows_committed),
    report:
      report ??
      emptyReport(row.format as ImportFormat, row.mode as 'incremental' | 'mirror', row.key, row.attempts),
    error:
      status === 'interrupted' && row.error === null ? 'the process stopped during the import' : row.error,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

export function emptyReport(
  format: ImportFormat,
  mode: 'incremental' | 'mirror',
  key: string,
  attempts: number,
): ImportReport {
  return {
    key,
    attempts,
    replayed: false,
    format,
    mode,
    rowsRead: 0,
    accepted: 0,
    excluded: {},
    rejectedCount: 0,
    rejected: [],
    removed: 0,
    truncated: false,
    removalSkipped: null,
    warnings: [],
    ledgerWrites: 0,
    thisCall: { accepted: 0, excluded: {} },
  };
}

const VIEW_COLUMNS = [
  'key',
  'status',
  'format',
  'mode',
  'segment_id',
  'key_namespace',
  'attempts',
  'rows_committed',
  'report',
  'error',
  'created_at',
  'updated_at',
  'finished_at',
] as const;

/** The sandbox's imports, newest first. */
export async function listImports(
  rt: EngineRuntime,
  sandboxId: string,
  options: { limit?: number } = {},
): Promise<ImportView[]> {
  const rows = await (rt.store.db as unknown as Db)
    .selectFrom('engine_imports')
    .select(VIEW_COLUMNS)
    .where('sandbox_id', '=', sandboxId)
    .orderBy('created_at', 'desc')
    .orderBy('key', 'desc')
    .limit(Math.max(1, Math.min(options.limit ?? 50, 500)))
    .execute();
  const now = rt.now();
  return rows.map((row) => viewOf(row, now, rt.tuning.importStaleMs));
}

/** Imports kept, in every sandbox, by status (a running attempt silent past `importStaleMs` counts as interrupted). */
export async function countImports(rt: EngineRuntime): Promise<Record<ImportStatus, number>> {
  const staleBefore = rt.now() - rt.tuning.importStaleMs;
  const rows = await (rt.store.db as unknown as Db)
    .selectFrom('engine_imports')
    .select((eb) => [
      'status',
      eb
        .case()
        .when(eb.and([eb('status', '=', 'running'), eb('updated_at', '<=', staleBefore)]))
        .then(1)
        .else(0)
        .end()
        .as('stale'),
      eb.fn.countAll<number>().as('n'),
    ])
    .groupBy(['status', 'stale'])
    .execute();
  const counts: Record<ImportStatus, number> = { running: 0, interrupted: 0, failed: 0, complete: 0 };
  for (const row of rows) {
    const status = Number(row.stale) === 1 ? 'interrupted' : (row.status as ImportStatus);
    counts[status] += Number(row.n);
  }
  return counts;
}

/** One import of the sandbox, or a `not_found` EngineError. */
export async function getImport(rt: EngineRuntime, sandboxId: string, key: string): Promise<ImportView> {
  const row = await (rt.store.db as unknown as Db)
    .selectFrom('engine_imports')
    .select(VIEW_COLUMNS)
    .where('sandbox_id', '=', sandboxId)
    .where('key', '=', key)
    .executeTakeFirst();
  if (!row)
    throw new EngineError('not_found', `No import ${key} in this sandbox`, {
      hint: 'List imports to see their keys',
    });
  return viewOf(row, rt.now(), rt.tuning.importStaleMs);
}

/**
 * Deletes imports past their retention: completed ones after `importRetentionMs` (their reports answer a repeated
 * upload until then), unfinished ones after the same time without an attempt, with their mirror-mode bookkeeping.
 */
export async function pruneImports(rt: EngineRuntime): Promise<void> {
  const db = rt.store.db as unknown as Db;
  const before = rt.now() - rt.tuning.importRetentionMs;
  const old = await db.selectFrom('engine_imports').select('id').where('updated_at', '<', before).execute();
  for (const { id } of old) {
    await db.deleteFrom('engine_import_seen').where('import_id', '=', id).execute();
    await db.deleteFrom('engine_imports').where('id', '=', id).execute();
  }
}
