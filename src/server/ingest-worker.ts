// Entry point of the ingest worker threads (see `ingest-workers.ts`): evaluates ingest bodies off the main thread.
import { workerData } from 'node:worker_threads';
import { profileKeyDigest } from '../store/secret-box.ts';
import { serveTasks, workerDataOf } from '../workers/thread-pool.ts';
import { ApiError } from './api-error.ts';
import { evaluateIngestBody } from './ingest-evaluate.ts';
import type { IngestTask } from './ingest-workers.ts';

const profileKey = Buffer.from(workerDataOf<{ profileKey: Uint8Array }>(workerData).profileKey);
const hash = (namespace: string, id: string) => profileKeyDigest(profileKey, namespace, id);

serveTasks(
  (task: IngestTask) => evaluateIngestBody(task.body, task.context, hash),
  (error) =>
    error instanceof ApiError
      ? { status: error.status, code: error.code, details: error.details, headers: error.headers }
      : undefined,
);
