import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { X_IDENTIFIER_TYPES } from '../identity/types.ts';
import type { XUser } from '../identity/types.ts';
import { adminRoutes } from './admin-routes.ts';
import { audienceJson } from './audience-view.ts';
import type { EmulatorContext, EmulatorSettings, RequestLogEntry, RequestMeta } from './context.ts';
import { EmulatorError } from './emulator-error.ts';
import { FaultInjector, faultsRequestSchema } from './faults.ts';
import type { FaultRates, FaultsRequest } from './faults.ts';
import { isMemberMatched } from './match-rate.ts';
import { RateLimiter } from './rate-limit.ts';
import type { RateBudget, RateFamily } from './rate-limit.ts';
import { defaultDemoSeed, parseEmulatorSeed } from './seed.ts';
import type { EmulatorSeed, ParsedSeed } from './seed.ts';
import { EmulatorState } from './state.ts';
import { isoSeconds } from './time-format.ts';
import { DEFAULT_EXPIRY_MONTHS } from './users-body.ts';
import { authorizeRequestToken, routeNotFound, xApiRoutes } from './x-api-routes.ts';

export interface EmulatorOptions {
  /** Clock in epoch ms (default `Date.now`). `clock.now` is accepted too. */
  now?: () => number;
  clock?: { now(): number };
  /** Randomness in [0, 1) for ids, tokens, PINs and random faults (default `Math.random`). */
  random?: () => number;
  /** Initial state, restored by reset. Default: {@link defaultDemoSeed}; `null` starts empty. */
  seed?: EmulatorSeed | null;
  /** Share of members X "matches" when sizing an audience, 0..1 (default 1). Deterministic per identifier. */
  matchRate?: number;
  /** Time from a membership change until processing sizes the audience (default 6 hours, X's cadence). */
  processingDelayMs?: number;
  /** Budgets per rate-limit family; unspecified families keep X's documented limits. */
  rateLimits?: Partial<Record<RateFamily, Partial<RateBudget>>>;
  /** Default membership lifetime in months when a request has no `expires_at` (default 13). */
  expiryMonths?: number;
  /** Allowed |server time − oauth_timestamp| in seconds (default 300). */
  timestampSkewSeconds?: number;
  /** Reject a nonce seen before within the skew window (default false). */
  rejectReplayedNonces?: boolean;
  /** API versions served (default [11, 12]). */
  versions?: number[];
  /**
   * Whether a deleted audience keeps its name from new and renamed audiences of the account (default false: names
   * are unique among the account's live audiences, as X documents; whether X also reserves deleted ones is not).
   */
  deletedAudiencesKeepNames?: boolean;
  /** Entries kept in the request log (default 10,000, oldest dropped first). */
  requestLogLimit?: number;
  /** How latency faults wait (default a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/** A member as the admin API shows it. */
export interface MemberView extends XUser {
  effective_at: string;
  expires_at: string;
  /** Whether the member counts toward the audience size at the current match rate. */
  matched: boolean;
}

/** The emulator's admin operations, also served under `/_emulator`. */
export interface EmulatorAdmin {
  /** Back to the initial seed: audiences, tokens, faults, rate windows and the request log are cleared. */
  reset(): void;
  /** Adds (or replaces by id/key) apps, users and accounts. Throws EmulatorError on an invalid seed. */
  seed(seed: EmulatorSeed): void;
  /** Current members (not yet expired) of an audience; throws EmulatorError when it does not exist. */
  members(accountId: string, audienceId: string): MemberView[];
  /**
   * Counts without listing (cheap at a million members): members not yet expired, those in effect now,
   * and those in effect that match at the current match rate (the size the next processing run reports).
   */
  memberStats(accountId: string, audienceId: string): { members: number; active: number; matched: number };
  /** The audience object as X would return it now, deleted ones included; null when unknown. */
  audience(accountId: string, audienceId: string): Record<string, unknown> | null;
  /** Runs audience processing now for every audience; returns how many were processed. */
  process(): number;
  /** Queues scripted faults and/or sets random fault rates. Throws EmulatorError when invalid. */
  addFaults(request: FaultsRequest): void;
  clearFaults(): void;
  faults(): { faults: Array<Record<string, unknown>>; rates: FaultRates };
  /** The request log of X API calls, oldest first. */
  requests(): RequestLogEntry[];
  clearRequests(): void;
  /** Authorizes a PIN-flow request token (as the user clicking "Authorize") and returns the PIN. */
  authorize(requestToken: string, userId?: string): string;
  /** The PIN of an authorized request token, or null. */
  pin(requestToken: string): string | null;
  /** Changes the match rate or processing delay at run time. */
  configure(settings: { matchRate?: number; processingDelayMs?: number }): void;
}

export interface RunningEmulator {
  url: string;
  close(): Promise<void>;
}

export interface Emulator {
  /** In-process fetch handler with the signature of `fetch`: pass it as the client's `fetch`. */
  fetch(input: Request | URL | string, init?: RequestInit): Promise<Response>;
  admin: EmulatorAdmin;
  /** Serves over HTTP (default 127.0.0.1, port 0 = any free port). */
  listen(options?: { port?: number; host?: string }): Promise<RunningEmulator>;
}

interface Connection {
  drop(): void;
}

const DEFAULT_PROCESSING_DELAY_MS = 6 * 60 * 60 * 1000;

/**
 * A faithful local emulator of the X Ads API Custom Audiences surface: OAuth 1.0a verification,
 * accounts and permissions, audience CRUD, the users endpoint with X's limits and validation, membership,
 * processing, rate limits, error envelopes, the PIN flow, and an admin API for tests.
 *
 * @example
 * const emulator = createEmulator({ seed: defaultDemoSeed(), now: () => clock.now() });
 * const client = new XAdsClient({ baseUrl: 'http://emulator.local', credentials, fetch: emulator.fetch });
 * // or over HTTP:
 * const { url, close } = await emulator.listen({ port: 9090 });
 */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const now = options.now ?? (options.clock ? () => options.clock!.now() : Date.now);
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const initialSeed = resolveSeed(options.seed === undefined ? defaultDemoSeed() : options.seed);
  const settings: EmulatorSettings = {
    matchRate: checkRate(options.matchRate ?? 1),
    processingDelayMs: options.processingDelayMs ?? DEFAULT_PROCESSING_DELAY_MS,
    expiryMonths: options.expiryMonths ?? DEFAULT_EXPIRY_MONTHS,
    timestampSkewSeconds: options.timestampSkewSeconds ?? 300,
    rejectReplayedNonces: options.rejectReplayedNonces ?? false,
    versions: new Set((options.versions ?? [11, 12]).map(String)),
    deletedAudiencesKeepNames: options.deletedAudiencesKeepNames ?? false,
  };
  const logLimit = options.requestLogLimit ?? 10_000;
  const ctx: EmulatorContext = {
    state: new EmulatorState(),
    settings,
    limiter: new RateLimiter(options.rateLimits),
    faults: new FaultInjector(),
    now,
    random,
  };
  if (initialSeed) ctx.state.applySeed(initialSeed, now());
  let log: RequestLogEntry[] = [];

  const findAudience = (accountId: string, audienceId: string) =>
    ctx.state.accounts.get(accountId)?.audiencesById.get(audienceId);

  const admin: EmulatorAdmin = {
    reset() {
      ctx.state = new EmulatorState();
      if (initialSeed) ctx.state.applySeed(initialSeed, now());
      ctx.limiter.clear();
      ctx.faults.clear();
      log = [];
    },
    seed(seed) {
      const parsed = resolveSeed(seed);
      if (parsed) ctx.state.applySeed(parsed, now());
    },
    members(accountId, audienceId) {
      const audience = findAudience(accountId, audienceId);
      if (audience === undefined) {
        throw new EmulatorError('NOT_FOUND', `No custom audience ${audienceId} in account ${accountId}`);
      }
      const at = now();
      const out: MemberView[] = [];
      for (const member of audience.members.current(at)) {
        const view: MemberView = {
          effective_at: isoSeconds(member.effectiveAt),
          expires_at: isoSeconds(member.expiresAt),
          matched: member.effectiveAt <= at && isMemberMatched(member, settings.matchRate),
        };
        for (const type of X_IDENTIFIER_TYPES) {
          const values = member.ids[type];
          if (values) view[type] = [...values];
        }
        out.push(view);
      }
      return out;
    },
    memberStats(accountId, audienceId) {
      const audience = findAudience(accountId, audienceId);
      if (audience === undefined) {
        throw new EmulatorError('NOT_FOUND', `No custom audience ${audienceId} in account ${accountId}`);
      }
      const at = now();
      let members = 0;
      let active = 0;
      let matched = 0;
      for (const member of audience.members.current(at)) {
        members += 1;
        if (member.effectiveAt > at) continue;
        active += 1;
        if (isMemberMatched(member, settings.matchRate)) matched += 1;
      }
      return { members, active, matched };
    },
    audience(accountId, audienceId) {
      const audience = findAudience(accountId, audienceId);
      return audience === undefined ? null : audienceJson(audience);
    },
    process() {
      let count = 0;
      const at = now();
      for (const audience of ctx.state.allAudiences()) {
        ctx.state.processAudience(audience, at, settings.matchRate);
        count += 1;
      }
      return count;
    },
    addFaults(request) {
      const parsed = faultsRequestSchema.safeParse(request);
      if (!parsed.success) {
        throw new EmulatorError(
          'INVALID_FAULTS',
          'The fault script is invalid; see details',
          parsed.error.issues.map((i) => ({ path: i.path.join('.'), reason: i.message })),
        );
      }
      for (const [i, fault] of parsed.data.faults.entries()) {
        if (fault.path === undefined) continue;
        try {
          new RegExp(fault.path);
        } catch {
          throw new EmulatorError('INVALID_FAULTS', 'A fault path is not a valid regular expression', [
            { path: `faults.${i}.path`, reason: 'invalid regular expression' },
          ]);
        }
      }
      ctx.faults.add(parsed.data);
    },
    clearFaults() {
      ctx.faults.clear();
    },
    faults() {
      return ctx.faults.describe();
    },
    requests() {
      return [...log];
    },
    clearRequests() {
      log = [];
    },
    authorize(requestToken, userId) {
      const pin = authorizeRequestToken(ctx, requestToken, userId);
      if (typeof pin !== 'string') throw new EmulatorError('NOT_FOUND', pin.message);
      return pin;
    },
    pin(requestToken) {
      return ctx.state.requestTokens.get(requestToken)?.pin ?? null;
    },
    configure(change) {
      if (change.matchRate !== undefined) settings.matchRate = checkRate(change.matchRate);
      if (change.processingDelayMs !== undefined) {
        if (!(change.processingDelayMs >= 0)) {
          throw new EmulatorError(
            'INVALID_SETTING',
            'processingDelayMs must be a number of milliseconds >= 0',
          );
        }
        settings.processingDelayMs = change.processingDelayMs;
      }
    },
  };

  const api = xApiRoutes(ctx);
  const adminApp = adminRoutes(admin);
  const root = new Hono<{ Bindings: RequestMeta }>();
  root.route('/_emulator', adminApp);
  root.route('/', api);
  root.notFound(routeNotFound);

  async function handle(request: Request, connection: Connection | null): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    const meta: RequestMeta = {
      body: new Uint8Array(0),
      countMismatch: false,
      operations: null,
      users: null,
      headers: {},
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      meta.body = new Uint8Array(await request.arrayBuffer());
    }
    if (path === '/_emulator' || path.startsWith('/_emulator/')) {
      return root.fetch(request, meta);
    }
    const started = now();
    const decision = ctx.faults.decide(
      request.method,
      path,
      path.endsWith('/users'),
      random,
      Math.floor(started / 1000),
    );
    if (decision.delayMs > 0) await sleep(decision.delayMs);
    const record = (status: number): void => {
      log.push({
        time: new Date(started).toISOString(),
        method: request.method,
        path,
        query: url.search,
        status,
        operations: meta.operations,
        users: meta.users,
        bytes: meta.body.byteLength,
        fault: decision.label,
      });
      if (log.length > logLimit) log.splice(0, log.length - logLimit);
    };
    if (decision.drop) {
      record(0);
      if (connection) {
        connection.drop();
        return new Response(null, { status: 500 });
      }
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      });
    }
    if (decision.response) {
      const { status, headers, body } = decision.response;
      record(status);
      return new Response(body, { status, headers: { 'x-current-api-version': '12', ...headers } });
    }
    meta.countMismatch = decision.countMismatch;
    const response = await root.fetch(request, meta);
    const headers = new Headers(response.headers);
    headers.set('x-current-api-version', '12');
    // X's time, by the emulator's clock (over HTTP, Node would otherwise stamp the machine's).
    headers.set('date', new Date(now()).toUTCString());
    for (const [k, v] of Object.entries(meta.headers)) headers.set(k, v);
    record(response.status);
    return new Response(response.body, { status: response.status, headers });
  }

  return {
    fetch: (input, init) => {
      const request = input instanceof Request && init === undefined ? input : new Request(input, init);
      const { signal } = request;
      if (signal.aborted) return Promise.reject(signal.reason as Error);
      // Like a network fetch, an in-process one settles as soon as its signal aborts.
      return new Promise<Response>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
        handle(request, null).then(
          (response) => {
            signal.removeEventListener('abort', onAbort);
            resolve(response);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error as Error);
          },
        );
      });
    },
    admin,
    listen({ port = 0, host = '127.0.0.1' } = {}) {
      const server = createAdaptorServer({
        fetch: (request: Request, env) =>
          handle(request, {
            drop: () => (env as HttpBindings).incoming.socket.destroy(),
          }),
        overrideGlobalObjects: false,
        hostname: host,
      }) as Server;
      return new Promise<RunningEmulator>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({
            url: `http://${shownHost}:${address.port}`,
            close: () =>
              new Promise<void>((done) => {
                server.close(() => done());
                server.closeAllConnections();
              }),
          });
        });
      });
    },
  };
}

function resolveSeed(seed: EmulatorSeed | null): ParsedSeed | null {
  if (seed === null) return null;
  const parsed = parseEmulatorSeed(seed);
  if (!parsed.ok)
    throw new EmulatorError('INVALID_SEED', 'The emulator seed is invalid; see details', parsed.errors);
  return parsed.seed;
}

function checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1))
    throw new EmulatorError('INVALID_SETTING', `matchRate must be between 0 and 1, got ${rate}`);
  return rate;
}
