import type { AuditForwardConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { ServiceBackend } from './backend.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { describeNetworkFailure } from '../net/network-failure.ts';
import { releaseLease, swapMeta, takeLease, type Leased } from './meta-lease.ts';

/*
 * Pushes the audit trail to a collector (a SIEM's HTTP input): every event, oldest first, each delivered at least
 * once and in order. The position reached is kept in the store (`store_meta`), so a restart carries on where the
 * last acknowledged batch ended; with several workers, one at a time forwards (a lease in the same row).
 */

export type AuditForwardFormat = AuditForwardConfig['format'];

type AuditFeed = ServiceBackend['audit']['feed'];
type FeedItem = Extract<Awaited<ReturnType<AuditFeed>>, { ok: true }>['value']['items'][number];

/** The forwarder's row in `store_meta`: the cursor after the last acknowledged event, and who holds the lease. */
interface ForwardState extends Leased {
  cursor: string | null;
}

const STATE_KEY = 'audit_forward';
const INITIAL: ForwardState = { cursor: null, owner: null, until: 0 };
/** Events per request. */
const BATCH = 500;
/** How long a lease lasts without being used: a worker that died is taken over after this. */
const LEASE_MS = 60_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BACKOFF_MS = 300_000;

/** The feed cursor after the last event a collector acknowledged, or null before the first. */
export async function forwardedCursor(store: Store): Promise<string | null> {
  const row = await store.db
    .selectFrom('store_meta')
    .select('value')
    .where('key', '=', STATE_KEY)
    .executeTakeFirst();
  return row ? (JSON.parse(row.value) as ForwardState).cursor : null;
}

/** A batch as the collector takes it: NDJSON events, or Splunk HEC event objects one after another. */
export function forwardBody(
  items: readonly FeedItem[],
  format: AuditForwardFormat,
): { body: string; contentType: string } {
  if (format === 'splunk')
    return {
      contentType: 'application/json',
      body: items
        .map((event) =>
          JSON.stringify({
            time: Date.parse(event.at) / 1000,
            source: 'tca',
            sourcetype: 'tca:audit',
            event,
          }),
        )
        .join('\n'),
    };
  return { contentType: 'application/x-ndjson', body: items.map((e) => `${JSON.stringify(e)}\n`).join('') };
}

/**
 * Starts forwarding. `forward()` sends what is due now (at most one batch; true when a full batch went, so more may
 * wait) and is what the timer runs.
 */
export function startAuditForward(options: {
  config: AuditForwardConfig;
  store: Store;
  feed: AuditFeed;
  owner: string;
  logger: Logger;
  metrics?: ServiceMetrics;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}): { forward(): Promise<boolean>; stop(): Promise<void> } {
  const { config, store, owner, logger } = options;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? Date.now;
  const db = store.db;

  const forward = async (): Promise<boolean> => {
    const held = await takeLease(db, STATE_KEY, INITIAL, owner, now(), LEASE_MS);
    if (held === null) return false;
    const { state } = held;
    const page = await options.feed(null, { limit: BATCH, after: state.cursor ?? undefined });
    if (!page.ok) throw new Error(`the audit feed refused the cursor ${state.cursor ?? ''}`);
    const { items, cursor } = page.value;
    if (items.length === 0) return false;
    const { body, contentType } = forwardBody(items, config.format);
    const headers: Record<string, string> = {
      'content-type': contentType,
      'user-agent': 'tca-audit-forward',
    };
    if (config.token !== undefined)
      headers['authorization'] = `${config.format === 'splunk' ? 'Splunk' : 'Bearer'} ${config.token}`;
    const res = await doFetch(config.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`the collector answered HTTP ${res.status}`);
    options.metrics?.auditForwarded.inc(items.length);
    // Acknowledged: the next batch starts after it. Lost to a worker that took the lease over meanwhile, the batch
    // is sent again by that worker (at least once).
    await swapMeta(db, STATE_KEY, held.text, { cursor, owner, until: now() + LEASE_MS });
    return items.length === BATCH;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let stopped = false;
  let failures = 0;
  const schedule = (delay: number) => {
    if (!stopped) timer = setTimeout(run, delay);
  };
  const run = () => {
    running = (async () => {
      let more = false;
      try {
        more = await forward();
        failures = 0;
      } catch (error) {
        failures += 1;
        options.metrics?.auditForwardFailures.inc();
        logger.warn(
          { url: new URL(config.url).origin, failures, error: describeNetworkFailure(error).reason },
          'audit events could not be forwarded; retrying',
        );
      }
      const backoff = Math.min(MAX_BACKOFF_MS, config.intervalMs * 2 ** Math.min(failures, 16));
      schedule(failures > 0 ? backoff : more ? 0 : config.intervalMs);
    })();
  };
  schedule(0);

  return {
    forward,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      await releaseLease(db, STATE_KEY, INITIAL, owner);
    },
  };
}
