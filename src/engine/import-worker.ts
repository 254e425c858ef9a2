// Entry point of the import worker threads (see `import-file.ts`): evaluates batches of file items off the main thread.
import { workerData } from 'node:worker_threads';
import { profileKeyDigest } from '../store/secret-box.ts';
import { serveTasks, workerDataOf } from '../workers/thread-pool.ts';
import {
  batchDigest,
  evaluateImportItemsEncoded,
  type EncodedBatch,
  type ImportTask,
} from './import-evaluate.ts';

const profileKey = Buffer.from(workerDataOf<{ profileKey: Uint8Array }>(workerData).profileKey);
serveTasks((task: ImportTask): EncodedBatch => ({
  digest: batchDigest(task),
  items: evaluateImportItemsEncoded(task, (namespace, id) => profileKeyDigest(profileKey, namespace, id)),
}));
