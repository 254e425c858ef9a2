import { AsyncLocalStorage } from 'node:async_hooks';
import { StoreError } from './errors.ts';

/**
 * Catches a query on `store.db` (or a store repository, a nested `store.transaction`, `store.sqlite.exclusive`) made
 * from inside a `store.transaction` callback. On SQLite such a query waits for the one connection the transaction
 * holds, forever; on PostgreSQL it silently runs outside the transaction. Either way it is a bug, so the driver
 * refuses it at once, on every backend alike.
 */
export class TransactionGuard {
  readonly #context = new AsyncLocalStorage<{ open: boolean }>();

  /** Runs `fn` in a context that `check` recognises once `fn` has called `begin` (after the connection is held). */
  run<T>(fn: (state: { open: boolean }) => Promise<T>): Promise<T> {
    this.check();
    const state = { open: false };
    return this.#context.run(state, () => fn(state));
  }

  /** Throws when called from inside an open transaction's callback. */
  check(): void {
    if (this.#context.getStore()?.open) {
      throw new StoreError(
        'invalid_input',
        'A query went to the store directly from inside store.transaction',
        {
          hint: 'Inside the callback use tx.db and the tx repositories (tx.destinations, …), and do not nest transactions',
        },
      );
    }
  }
}
