import { ThreadPool } from '../workers/thread-pool.ts';
import { ApiError, type ErrorDetail } from './api-error.ts';
import type { EvaluatedBody, IngestBody, PlainEvaluationContext } from './ingest-evaluate.ts';

export interface IngestTask {
  body: IngestBody;
  context: PlainEvaluationContext;
}

interface ApiErrorPayload {
  status: number;
  code: string;
  details: ErrorDetail[];
  headers: Record<string, string>;
}

/**
 * Worker threads that read and evaluate ingest bodies (parse, validate, map, normalize, hash) so that the main
 * thread only serves HTTP and writes the store. A body that cannot be read rejects with the same ApiError the main
 * thread would throw.
 */
export class IngestWorkers {
  readonly #pool: ThreadPool<IngestTask, EvaluatedBody>;

  constructor(options: { size: number; profileKey: Buffer }) {
    this.#pool = new ThreadPool({
      size: options.size,
      entry: new URL('./ingest-worker.ts', import.meta.url),
      data: { profileKey: new Uint8Array(options.profileKey) },
      reviveError: (message, payload) =>
        payload === undefined
          ? new Error(`ingest worker failed: ${message}`)
          : new ApiError({ ...(payload as ApiErrorPayload), message }),
    });
  }

  evaluate(body: IngestBody, context: PlainEvaluationContext): Promise<EvaluatedBody> {
    return this.#pool.run({ body, context });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
