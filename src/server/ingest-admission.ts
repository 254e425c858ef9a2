/**
 * Bounds the ingest bodies the service holds at once, so a burst of senders costs a wait or a retry instead of the
 * memory it would take to hold every body: a request reserves its body's bytes before the body is read and gives
 * them back once its answer is decided. One that cannot be admitted waits, first come first served, for at most
 * `maxWaitMs`; then it is refused (the caller answers 503 with Retry-After) and nothing of it has been read.
 */
export class IngestAdmission {
  readonly #maxBytes: number;
  readonly #maxWaitMs: number;
  readonly #onChange: (state: { pendingBytes: number; waiting: number }) => void;
  readonly #waiters: Waiter[] = [];
  #pendingBytes = 0;

  constructor(options: {
    /** Bytes of bodies admitted at once. A body larger than this is admitted alone, when nothing else is. */
    maxPendingBytes: number;
    maxWaitMs: number;
    /** Told of every change (for metrics). */
    onChange?: (state: { pendingBytes: number; waiting: number }) => void;
  }) {
    this.#maxBytes = options.maxPendingBytes;
    this.#maxWaitMs = options.maxWaitMs;
    this.#onChange = options.onChange ?? (() => {});
  }

  /** Bytes reserved by admitted requests. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Requests waiting to be admitted. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Reserves `bytes`; resolves to the reservation, or to null when it could not be made within the wait. */
  admit(bytes: number): Promise<Admitted | null> {
    if (this.#waiters.length === 0 && this.#fits(bytes)) return Promise.resolve(this.#reserve(bytes));
    if (this.#maxWaitMs <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          this.#changed();
          resolve(null);
          // A refused head may have been what held back smaller requests behind it.
          this.#drain();
        }, this.#maxWaitMs),
      };
      this.#waiters.push(waiter);
      this.#changed();
    });
  }

  #fits(bytes: number): boolean {
    return this.#pendingBytes === 0 || this.#pendingBytes + bytes <= this.#maxBytes;
  }

  #reserve(bytes: number): Admitted {
    let held = bytes;
    this.#pendingBytes += held;
    this.#changed();
    return {
      shrink: (to) => {
        const next = Math.max(0, Math.min(held, to));
        this.#pendingBytes -= held - next;
        held = next;
        this.#changed();
        this.#drain();
      },
      release: () => {
        this.#pendingBytes -= held;
        held = 0;
        this.#changed();
        this.#drain();
      },
    };
  }

  /** Admits waiters in arrival order while the first of them fits. */
  #drain(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.bytes)) {
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.#reserve(waiter.bytes));
    }
  }

  #changed(): void {
    this.#onChange({ pendingBytes: this.#pendingBytes, waiting: this.#waiters.length });
  }
}

/** An admitted request's reservation. */
export interface Admitted {
  /** Holds only `bytes` from now on (once the body is read and smaller than reserved). */
  shrink(bytes: number): void;
  /** Gives the reservation back; further calls do nothing. */
  release(): void;
}

interface Waiter {
  bytes: number;
  resolve: (admitted: Admitted | null) => void;
  timer: ReturnType<typeof setTimeout>;
}
