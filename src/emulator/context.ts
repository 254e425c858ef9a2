import type { EmulatorState } from './state.ts';
import type { FaultInjector } from './faults.ts';
import type { RateLimiter } from './rate-limit.ts';

/** One entry of the request log (`GET /_emulator/requests`). */
export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  query: string;
  status: number;
  /** Operation objects in a users request; null for other requests or an unparseable body. */
  operations: number | null;
  /** User objects in a users request; null otherwise. */
  users: number | null;
  /** Bytes of the request body. */
  bytes: number;
  /** The injected fault, if any. */
  fault: string | null;
}

/** Per-request data the outer handler shares with the routes (Hono bindings). */
export interface RequestMeta {
  body: Uint8Array;
  countMismatch: boolean;
  operations: number | null;
  users: number | null;
  /** Headers the outer handler adds to the response (rate-limit headers). */
  headers: Record<string, string>;
}

export interface EmulatorSettings {
  matchRate: number;
  processingDelayMs: number;
  expiryMonths: number;
  timestampSkewSeconds: number;
  rejectReplayedNonces: boolean;
  versions: ReadonlySet<string>;
  deletedAudiencesKeepNames: boolean;
}

/** Everything the routes share: state, policies and the injected clock and randomness. */
export interface EmulatorContext {
  state: EmulatorState;
  settings: EmulatorSettings;
  limiter: RateLimiter;
  faults: FaultInjector;
  now: () => number;
  random: () => number;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A random string over [a-z0-9] drawn from the injected `random`. */
export function randomToken(random: () => number, length: number, alphabet = ALPHABET): string {
  let out = '';
  for (let i = 0; i < length; i += 1)
    out += alphabet[Math.floor(random() * alphabet.length) % alphabet.length];
  return out;
}
