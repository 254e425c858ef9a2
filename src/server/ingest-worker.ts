// Entry point of an ingest worker thread (started by `IngestWorkers`): evaluates ingest bodies off the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { profileKeyDigest } from '../store/secret-box.ts';
import { ApiError } from './api-error.ts';
import { evaluateIngestBody } from './ingest-evaluate.ts';
import type { WorkerReply, WorkerTask } from './ingest-workers.ts';

const profileKey = Buffer.from((workerData as { profileKey: Uint8Array }).profileKey);
const hash = (namespace: string, id: string) => profileKeyDigest(profileKey, namespace, id);

parentPort!.on('message', (task: WorkerTask) => {
  let reply: WorkerReply;
  try {
    reply = { id: task.id, ok: true, result: evaluateIngestBody(task.body, task.context, hash) };
  } catch (error) {
    reply =
      error instanceof ApiError
        ? {
            id: task.id,
            ok: false,
            apiError: {
              status: error.status,
              code: error.code,
              message: error.message,
              details: error.details,
              headers: error.headers,
            },
          }
        : { id: task.id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
parentPort!.postMessage({ ready: true });
