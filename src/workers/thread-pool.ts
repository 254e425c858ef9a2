import { parentPort, Worker } from 'node:worker_threads';

/** A failed task as it crosses back: the message, and whatever the worker's `encodeError` made of the error. */
interface FailedReply {
  id: number;
  ok: false;
  message: string;
  payload: unknown;
}
type Reply<R> = { id: number; ok: true; result: R } | FailedReply;

// Workers run the TypeScript sources like the main thread: register tsx's loader, then import the entry module.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then(({ register }) => {
  register();
  return import(workerData.entry);
});
`;

export interface ThreadPoolOptions {
  /** Worker threads (at least 1). */
  size: number;
  /** The worker's entry module; it calls `serveTasks`. */
  entry: URL;
  /** Passed to every worker as `workerData.data`. */
  data?: unknown;
  /** Turns a failed task's payload (see `serveTasks`) back into an error; default `new Error(message)`. */
  reviveError?: (message: string, payload: unknown) => Error;
}

interface Slot<R> {
  worker: Worker;
  pending: Map<number, { resolve(result: R): void; reject(error: unknown): void }>;
}

/**
 * A fixed set of worker threads running one entry module: each task goes to the worker with the fewest in flight and
 * its result (or error) comes back in a promise. Workers start on first use and never keep the process alive while
 * idle; one that dies fails its tasks and is replaced by the next call.
 *
 * @example
 * const pool = new ThreadPool<Task, Result>({ size: 2, entry: new URL('./my-worker.ts', import.meta.url) });
 * const result = await pool.run(task);
 */
export class ThreadPool<T, R> {
  readonly #options: ThreadPoolOptions;
  readonly #slots: Array<Slot<R> | null>;
  #nextId = 1;
  #closed = false;

  constructor(options: ThreadPoolOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: Math.max(1, Math.trunc(options.size)) }, () => null);
  }

  get size(): number {
    return this.#slots.length;
  }

  run(task: T): Promise<R> {
    if (this.#closed) return Promise.reject(new Error('the thread pool is closed'));
    const slot = this.#pick();
    const id = this.#nextId++;
    return new Promise<R>((resolve, reject) => {
      // A worker with work in flight keeps the process alive; an idle one does not.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, task });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot) => slot?.worker.terminate()));
  }

  #pick(): Slot<R> {
    let best = -1;
    for (let i = 0; i < this.#slots.length; i += 1) {
      const slot = this.#slots[i];
      if (!slot) return (this.#slots[i] = this.#spawn(i));
      if (best === -1 || slot.pending.size < this.#slots[best]!.pending.size) best = i;
    }
    return this.#slots[best]!;
  }

  #spawn(index: number): Slot<R> {
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        tsx: import.meta.resolve('tsx/esm/api'),
        entry: this.#options.entry.href,
        data: this.#options.data,
      },
    });
    worker.unref();
    const slot: Slot<R> = { worker, pending: new Map() };
    worker.on('message', (reply: Reply<R>) => {
      const task = slot.pending.get(reply.id);
      if (!task) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      if (reply.ok) task.resolve(reply.result);
      else task.reject(this.#options.reviveError?.(reply.message, reply.payload) ?? new Error(reply.message));
    });
    const fail = (error: Error) => {
      if (this.#slots[index] === slot) this.#slots[index] = null;
      for (const task of slot.pending.values()) task.reject(error);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`worker thread exited with code ${code}`)));
    return slot;
  }
}

/**
 * The worker side of a `ThreadPool`: answers each task with `handle`'s result. A thrown error goes back with its
 * message and `encodeError`'s payload (plain data), for the pool's `reviveError`.
 */
export function serveTasks<T, R>(handle: (task: T) => R, encodeError?: (error: unknown) => unknown): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks runs in a worker thread');
  port.on('message', ({ id, task }: { id: number; task: T }) => {
    let reply: Reply<R>;
    try {
      reply = { id, ok: true, result: handle(task) };
    } catch (error) {
      reply = {
        id,
        ok: false,
        message: error instanceof Error ? error.message : String(error),
        payload: encodeError?.(error),
      };
    }
    port.postMessage(reply);
  });
}

/** The `data` a pool gave its workers. */
export function workerDataOf<D>(workerData: unknown): D {
  return (workerData as { data: D }).data;
}
