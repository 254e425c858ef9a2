/**
 * Bounds the work the service takes on at once, so a burst of senders costs a wait or a retry instead of the memory
 * it would take to hold all of it: a request reserves its units (the bytes of an ingest body, or one import) before
 * its body is read and gives them back once its answer is decided. One that cannot be admitted waits, first come
 * first served, for at most `maxWaitMs` (or until its client goes away); then it is refused (the caller answers 503
 * with Retry-After) and nothing of it has been read.
 */
export class AdmissionGate {
  readonly #capacity: number;
  readonly #maxWaitMs: number;
  readonly #onChange: (state: { pending: number; waiting: number }) => void;
  readonly #waiters: Waiter[] = [];
  readonly #freed: DrainRate;
  #pending = 0;

  constructor(options: {
    /** Units admitted at once. A request asking for more is admitted alone, when nothing else is. */
    capacity: number;
    /** How long a request may wait for room (`Infinity`: until room comes free or its client goes away). */
    maxWaitMs: number;
    /** Told of every change (for metrics). */
    onChange?: (state: { pending: number; waiting: number }) => void;
    /** The clock the rate room comes free at is measured by (epoch milliseconds). */
    now?: () => number;
  }) {
    this.#capacity = options.capacity;
    this.#maxWaitMs = options.maxWaitMs;
    this.#onChange = options.onChange ?? (() => {});
    this.#freed = new DrainRate(options.now ?? Date.now);
  }

  /** Units reserved by admitted requests. */
  get pending(): number {
    return this.#pending;
  }

  /** Requests waiting to be admitted. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * When a request for `units` that was refused should come back, in whole seconds within `[minSeconds,
   * maxSeconds]`: the time room for it and for every request waiting now takes to come free, at the rate room came
   * free over the last few seconds. A gate that freed nothing lately answers `maxSeconds`.
   */
  retryAfterSeconds(units: number, minSeconds: number, maxSeconds: number): number {
    let queued = 0;
    for (const waiter of this.#waiters) queued += waiter.units;
    const short = this.#pending + queued + Math.min(units, this.#capacity) - this.#capacity;
    if (short <= 0) return minSeconds;
    const perSecond = this.#freed.perSecond();
    if (perSecond <= 0) return maxSeconds;
    return Math.min(maxSeconds, Math.max(minSeconds, Math.ceil(short / perSecond)));
  }

  /**
   * Reserves `units`; resolves to the reservation, or to null when it could not be made within the wait or `signal`
   * aborted first.
   */
  admit(units: number, signal?: AbortSignal): Promise<Admitted | null> {
    if (this.#waiters.length === 0 && this.#fits(units)) return Promise.resolve(this.#reserve(units));
    if (this.#maxWaitMs <= 0 || signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const giveUp = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at < 0) return;
        this.#waiters.splice(at, 1);
        this.#changed();
        waiter.settle(null);
        // A refused head may have been what held back smaller requests behind it.
        this.#drain();
      };
      const timer = Number.isFinite(this.#maxWaitMs) ? setTimeout(giveUp, this.#maxWaitMs) : undefined;
      // Admitted or given up, the waiter's timer and abort listener go with it.
      const waiter: Waiter = {
        units,
        settle: (admitted) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', giveUp);
          resolve(admitted);
        },
      };
      signal?.addEventListener('abort', giveUp, { once: true });
      this.#waiters.push(waiter);
      this.#changed();
    });
  }

  #fits(units: number): boolean {
    return this.#pending === 0 || this.#pending + units <= this.#capacity;
  }

  #reserve(units: number): Admitted {
    let held = units;
    this.#pending += held;
    this.#changed();
    return {
      shrink: (to) => {
        const next = Math.max(0, Math.min(held, to));
        this.#pending -= held - next;
        this.#freed.add(held - next);
        held = next;
        this.#changed();
        this.#drain();
      },
      release: () => {
        this.#pending -= held;
        this.#freed.add(held);
        held = 0;
        this.#changed();
        this.#drain();
      },
    };
  }

  /** Admits waiters in arrival order while the first of them fits. */
  #drain(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.units)) {
      const waiter = this.#waiters.shift()!;
      waiter.settle(this.#reserve(waiter.units));
    }
  }

  #changed(): void {
    this.#onChange({ pending: this.#pending, waiting: this.#waiters.length });
  }
}

/** An admitted request's reservation. */
export interface Admitted {
  /** Holds only `units` from now on (a body read and smaller than reserved); never more than before. */
  shrink(units: number): void;
  /** Gives the reservation back; further calls do nothing. */
  release(): void;
}

interface Waiter {
  units: number;
  /** Resolves the waiter's `admit` call and drops its timer and abort listener. */
  settle: (admitted: Admitted | null) => void;
}

/** Units freed over the last `DrainRate.WINDOW_MS`, in one-second buckets: the rate room comes free at. */
class DrainRate {
  static readonly WINDOW_MS = 10_000;
  static readonly #BUCKET_MS = 1000;
  readonly #now: () => number;
  /** Units freed per bucket, oldest first, and the start of the newest bucket. */
  readonly #buckets: number[] = [];
  #newest = -Infinity;
  /** When the gate was made: a young gate's rate is over the time it has lived. */
  readonly #since: number;

  constructor(now: () => number) {
    this.#now = now;
    this.#since = now();
  }

  add(units: number): void {
    if (units <= 0) return;
    this.#advance();
    this.#buckets[this.#buckets.length - 1]! += units;
  }

  /** Units freed per second over the window (0 when nothing was freed in it). */
  perSecond(): number {
    this.#advance();
    let total = 0;
    for (const units of this.#buckets) total += units;
    if (total === 0) return 0;
    const spanMs = Math.min(DrainRate.WINDOW_MS, Math.max(DrainRate.#BUCKET_MS, this.#now() - this.#since));
    return total / (spanMs / 1000);
  }

  /** Opens the bucket the clock is in, dropping those older than the window. */
  #advance(): void {
    const size = DrainRate.#BUCKET_MS;
    const start = Math.floor(this.#now() / size) * size;
    if (start < this.#newest) return;
    const gap = Math.min(
      DrainRate.WINDOW_MS / size,
      this.#newest === -Infinity ? 1 : (start - this.#newest) / size,
    );
    for (let i = 0; i < gap; i += 1) this.#buckets.push(0);
    while (this.#buckets.length > DrainRate.WINDOW_MS / size) this.#buckets.shift();
    this.#newest = start;
  }
}
