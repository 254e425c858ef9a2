import { Worker } from 'node:worker_threads';
import { ApiError, type ErrorDetail } from './api-error.ts';
import type { EvaluatedBody, IngestBody, PlainEvaluationContext } from './ingest-evaluate.ts';

export interface WorkerTask {
  id: number;
  body: IngestBody;
  context: PlainEvaluationContext;
}

export type WorkerReply =
  | { id: number; ok: true; result: EvaluatedBody }
  | {
      id: number;
      ok: false;
      apiError?: {
        status: number;
        code: string;
        message: string;
        details: ErrorDetail[];
        headers: Record<string, string>;
      };
      message?: string;
    };

// The worker runs the TypeScript sources like the main thread: register tsx's loader, then import the entry.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then(({ register }) => {
  register();
  return import(workerData.entry);
});
`;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve(result: EvaluatedBody): void; reject(error: unknown): void }>;
}

/**
 * Worker threads that read and evaluate ingest bodies (parse, validate, map, normalize, hash) so that the main
 * thread only serves HTTP and writes the store. Tasks go to the worker with the fewest in flight. Workers start on
 * first use; one that dies fails its tasks (the client retries) and is replaced by the next call.
 */
export class IngestWorkers {
  readonly #size: number;
  readonly #profileKey: Buffer;
  readonly #slots: Array<Slot | null>;
  #nextId = 1;
  #closed = false;

  constructor(options: { size: number; profileKey: Buffer }) {
    this.#size = Math.max(1, Math.trunc(options.size));
    this.#profileKey = options.profileKey;
    this.#slots = Array.from({ length: this.#size }, () => null);
  }

  evaluate(body: IngestBody, context: PlainEvaluationContext): Promise<EvaluatedBody> {
    if (this.#closed) return Promise.reject(new Error('the ingest workers are closed'));
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<EvaluatedBody>((resolve, reject) => {
      // A worker with work in flight keeps the process alive; an idle one does not.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, body, context } satisfies WorkerTask);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot) => slot?.worker.terminate()));
  }

  #pick(): Slot {
    let best = -1;
    for (let i = 0; i < this.#size; i += 1) {
      const slot = this.#slots[i];
      if (!slot) return (this.#slots[i] = this.#spawn(i));
      if (best === -1 || slot.pending.size < this.#slots[best]!.pending.size) best = i;
    }
    return this.#slots[best]!;
  }

  #spawn(index: number): Slot {
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        entry: new URL('./ingest-worker.ts', import.meta.url).href,
        profileKey: new Uint8Array(this.#profileKey),
      },
    });
    // Idle workers never keep the process alive.
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply | { ready: true }) => {
      if (!('id' in reply)) return;
      const task = slot.pending.get(reply.id);
      if (!task) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) slot.worker.unref();
      if (reply.ok) task.resolve(reply.result);
      else if (reply.apiError) task.reject(new ApiError(reply.apiError));
      else task.reject(new Error(`ingest worker failed: ${reply.message ?? 'unknown error'}`));
    });
    const fail = (error: Error) => {
      if (this.#slots[index] === slot) this.#slots[index] = null;
      for (const task of slot.pending.values()) task.reject(error);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`ingest worker exited with code ${code}`)));
    return slot;
  }
}
