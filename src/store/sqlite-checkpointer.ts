import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Copies the WAL back into the database file on a thread of its own. SQLite's automatic checkpoint runs inside the
 * commit that crosses the threshold, on the connection that commits: with better-sqlite3 that is the main thread,
 * blocked for the page copy and two fsyncs. This worker has its own connection and runs a passive checkpoint every
 * `intervalMs` (passive: it never blocks writers or readers, and does nothing when the WAL is already copied); the
 * main connection keeps a high automatic threshold only as a safety net.
 */
export interface SqliteCheckpointer {
  /** Frames copied into the database file so far (for tests and metrics). */
  readonly framesCheckpointed: number;
  stop(): Promise<void>;
}

// Plain CommonJS, evaluated as the worker's source: it needs nothing but the driver.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = FULL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    const row = checkpoint.get();
    if (row.checkpointed > 0) parentPort.postMessage({ checkpointed: row.checkpointed, log: row.log });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export function startSqliteCheckpointer(
  path: string,
  options: { intervalMs?: number; onError?: (error: Error) => void } = {},
): SqliteCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, driver, intervalMs: options.intervalMs ?? 100 },
  });
  // Never keeps the process alive; the main connection checkpoints on close anyway.
  worker.unref();
  let frames = 0;
  // A passive checkpoint reports the frames copied so far in the current WAL, which restarts from zero.
  let lastInLog = 0;
  let lastLog = 0;
  worker.on('message', (message: { checkpointed?: number; log?: number; error?: string }) => {
    if (message.error !== undefined) {
      options.onError?.(new Error(`SQLite checkpoint failed: ${message.error}`));
      return;
    }
    const checkpointed = message.checkpointed ?? 0;
    const log = message.log ?? 0;
    frames += checkpointed >= lastInLog && log >= lastLog ? checkpointed - lastInLog : checkpointed;
    lastInLog = checkpointed;
    lastLog = log;
  });
  worker.on('error', (error) => options.onError?.(error));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    get framesCheckpointed() {
      return frames;
    },
    async stop() {
      // Waiting for the exit must keep the process alive, or an otherwise idle process ends mid-close.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
