import { sql } from 'kysely';
import { isXAdsError } from '../xads/errors.ts';
import {
  deliverAudience,
  LeaseLostError,
  renewLease,
  resetIfGone,
  resetXAudience,
  type AudienceDeliveryReport,
} from './delivery.ts';
import { pollHealth } from './lifecycle.ts';
import { resumeVerified } from './pauses.ts';
import { recordPendingSamples, type PendingSample } from './run-counters.ts';
import { pruneHistory } from './runs.ts';
import type { EngineRuntime } from './runtime.ts';
import { pendingCounts } from './pending-counts.ts';
import { cadenceAllowedAt, cadenceStateOf, flushReason } from './schedule.ts';
import type { Db } from './sql-helpers.ts';
import { syncAudiences } from './sync.ts';
import type { EngineXClient } from './x-port.ts';

/**
 * Claims an audience for this process: a lease row update that succeeds for one claimant only, on every backend
 * (several workers on PostgreSQL never deliver the same audience at once). An expired lease can be taken over.
 */
export async function claimAudience(rt: EngineRuntime, audienceId: string): Promise<boolean> {
  const now = rt.now();
  const result = await rt.store.db
    .updateTable('engine_audiences')
    .set({ lease_owner: rt.workerId, lease_until: now + rt.tuning.leaseMs })
    .where('id', '=', audienceId)
    .where((eb) =>
      eb.or([
        eb('lease_owner', 'is', null),
        eb('lease_until', '<', now),
        eb('lease_owner', '=', rt.workerId),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function releaseAudience(rt: EngineRuntime, audienceId: string): Promise<void> {
  await rt.store.db
    .updateTable('engine_audiences')
    .set({ lease_owner: null, lease_until: null })
    .where('id', '=', audienceId)
    .where('lease_owner', '=', rt.workerId)
    .execute();
}

/** Serializes deliveries per audience inside the process (at most one in-flight request per X audience). */
export class AudienceLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(audienceId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(audienceId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(audienceId, tail);
    void tail.then(() => {
      if (this.#tails.get(audienceId) === tail) this.#tails.delete(audienceId);
    });
    return next;
  }

  busy(audienceId: string): boolean {
    return this.#tails.has(audienceId);
  }

  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}

/**
 * Runs `fn` holding the audience's lease; `null` when another worker holds it, or took it over meanwhile. The lease is
 * renewed every third of its length while `fn` runs: X calls (a create retried, a users request waiting for X) can
 * outlast it, and a lease that lapsed mid-delivery let a second worker deliver the same audience at once.
 */
async function withLease<T>(rt: EngineRuntime, audienceId: string, fn: () => Promise<T>): Promise<T | null> {
  if (!(await claimAudience(rt, audienceId))) return null;
  const heartbeat = setInterval(
    () => {
      // A lost lease is seen by the next write-ahead or commit, which then stops the delivery.
      renewLease(rt, audienceId).catch(() => undefined);
    },
    Math.max(10, Math.floor(rt.tuning.leaseMs / 3)),
  );
  heartbeat.unref();
  try {
    return await fn();
  } catch (error) {
    if (error instanceof LeaseLostError) {
      rt.logger.warn({ audienceId }, 'delivery stopped: another worker took the audience over');
      return null;
    }
    throw error;
  } finally {
    clearInterval(heartbeat);
    await releaseAudience(rt, audienceId);
  }
}

/**
 * Starts one audience over (`resetXAudience`) under the in-process lock and the lease, so no delivery of it runs
 * meanwhile: true when it did, false when another worker holds it (its next delivery finds the X audience gone and
 * starts over then).
 */
export async function resetClaimed(
  rt: EngineRuntime,
  locks: AudienceLocks,
  audienceId: string,
): Promise<boolean> {
  const done = await locks.run(audienceId, () =>
    withLease(rt, audienceId, () => resetXAudience(rt, audienceId).then(() => true)),
  );
  return done === true;
}

/** Delivers one audience under the in-process lock and the lease; `null` when another worker holds it. */
export async function deliverClaimed(
  rt: EngineRuntime,
  locks: AudienceLocks,
  audienceId: string,
): Promise<AudienceDeliveryReport | null> {
  return locks.run(audienceId, () => withLease(rt, audienceId, () => deliverAudience(rt, audienceId)));
}

/**
 * `deliverClaimed` for a flush that waits until `until` (epoch ms, real time; null: it does not wait): an audience
 * X's rate limit holds back is delivered again once the limit resets (`nextAttemptAt`), as long as that comes before
 * `until`, and its report adds up the passes. `null` when another worker holds the audience.
 */
export async function deliverWithinWait(
  rt: EngineRuntime,
  locks: AudienceLocks,
  audienceId: string,
  until: number | null,
): Promise<AudienceDeliveryReport | null> {
  let report = await deliverClaimed(rt, locks, audienceId);
  while (until !== null && report?.outcome === 'retrying' && report.rateLimited && report.nextAttemptAt) {
    const delay = Math.max(0, report.nextAttemptAt - rt.now());
    if (Date.now() + delay >= until) break;
    await new Promise((resolve) => setTimeout(resolve, delay));
    const next = await deliverClaimed(rt, locks, audienceId);
    // Another worker took it up when the limit reset: it goes out with that worker's pass.
    if (next === null) return null;
    const before: AudienceDeliveryReport = report;
    const sent = before.requests > 0 || before.xAudience !== undefined;
    const xAudience = next.xAudience ?? before.xAudience;
    report = {
      ...next,
      outcome: next.outcome === 'idle' && sent ? 'delivered' : next.outcome,
      requests: before.requests + next.requests,
      added: before.added + next.added,
      removed: before.removed + next.removed,
      deadLettered: before.deadLettered + next.deadLettered,
      ...(xAudience === undefined ? {} : { xAudience }),
    };
  }
  return report;
}

/**
 * Audiences due for delivery now: removal, on-demand flush, full batch, aged batch, members to re-send before X
 * expires them (not with a membership TTL, which lets them lapse); never during a back-off, nor in X cadence mode
 * while no kind of change that waits may be pushed.
 */
export async function dueAudiences(rt: EngineRuntime): Promise<string[]> {
  const now = rt.now();
  const cap = rt.tuning.fullRequestUsers;
  const rows = await sql<{
    id: string;
    lifecycle: string;
    flush_requested: number;
    next_attempt_at: number | null;
    max_batch_age_seconds: number | null;
    status: string | null;
    pending_count: number;
    oldest: number | null;
    refresh_due: number;
    cadence_mode: string | null;
    cadence_window_seconds: number | null;
    last_add_push_at: number | null;
    last_remove_push_at: number | null;
  }>`select a.id, a.lifecycle, a.flush_requested, a.next_attempt_at, d.max_batch_age_seconds, d.status,
      d.cadence_mode, d.cadence_window_seconds, a.last_add_push_at, a.last_remove_push_at,
      (select count(*) from (select 1 from engine_ledger l where l.audience_id = a.id and l.pending = 1 limit ${cap}) p) as pending_count,
      (select min(l.pending_since) from engine_ledger l where l.audience_id = a.id and l.pending = 1) as oldest,
      case when da.ttl_days is null then
        (select count(*) from (select 1 from engine_ledger l where l.audience_id = a.id and l.pending = 0 and l.desired is not null
          and l.expires_at is not null and l.expires_at < ${now + rt.tuning.refreshWindowMs} limit 1) r)
        else 0 end as refresh_due
    from engine_audiences a left join dataflows d on d.id = a.dataflow_id
      left join dataflow_audiences da on da.id = a.id
    where a.lifecycle <> 'removed'`.execute(rt.store.db);
  const due: string[] = [];
  // X cadence mode: audiences due by their window whose waiting kinds of change may not be pushed yet (see below).
  const cadenced = new Map<string, (typeof rows.rows)[number]>();
  for (const row of rows.rows) {
    if (row.lifecycle === 'removing') {
      // A failed dataflow (X refused a call) waits for the user to resume it, removals included.
      if (row.status === 'failed') continue;
      if (row.next_attempt_at === null || now >= Number(row.next_attempt_at)) due.push(row.id);
      continue;
    }
    if (row.status !== 'active') continue;
    const reason = flushReason({
      now,
      pendingCount: Number(row.pending_count),
      oldestPendingAt: row.oldest === null ? null : Number(row.oldest),
      maxBatchAgeSeconds: Number(row.max_batch_age_seconds ?? 900),
      fullRequestUsers: cap,
      nextAttemptAt: row.next_attempt_at === null ? null : Number(row.next_attempt_at),
      demand: row.flush_requested === 1,
      refreshDue: Number(row.refresh_due) > 0,
    });
    if (reason === null) continue;
    if (row.cadence_mode === 'x_cadence') cadenced.set(row.id, row);
    due.push(row.id);
  }
  if (cadenced.size === 0) return due;
  // A delivery would defer every change whose kind (additions, removals) was pushed within the window: due only when a
  // kind that waits may go, else the audience would be claimed, read and deferred at every tick for hours.
  const counts = await pendingCounts(rt.store.db as unknown as Db, [...cadenced.keys()]);
  return due.filter((id) => {
    const row = cadenced.get(id);
    if (row === undefined) return true;
    const waiting = counts.get(id) ?? { adds: 0, removes: 0 };
    const allowedAt = cadenceAllowedAt({
      // A refresh re-adds members: it is an addition.
      adds: waiting.adds + Number(row.refresh_due),
      removes: waiting.removes,
      cadence: cadenceStateOf(row),
    });
    return allowedAt !== null && allowedAt <= now;
  });
}

/**
 * Polls the health of audiences not checked within the interval. Each poll runs under its audience's in-process lock
 * and its lease, so it never overlaps that audience's delivery here or on another worker (a poll that finds the X
 * audience gone resets it).
 */
export async function pollDueHealth(rt: EngineRuntime, locks: AudienceLocks): Promise<number> {
  const now = rt.now();
  const rows = await rt.store.db
    .selectFrom('dataflow_audiences as a')
    .innerJoin('dataflows as d', 'd.id', 'a.dataflow_id')
    .select(['a.id', 'a.sandbox_id', 'a.x_audience_id', 'd.destination_id'])
    .where('a.x_audience_id', 'is not', null)
    .where('d.status', '=', 'active')
    .where('a.state', 'not in', ['removing', 'removed'])
    .where((eb) =>
      eb.or([
        eb('a.health_checked_at', 'is', null),
        eb('a.health_checked_at', '<', now - rt.tuning.healthIntervalMs),
      ]),
    )
    .execute();
  let polled = 0;
  for (const row of rows) {
    const poll = async (): Promise<boolean> => {
      let x: { client: EngineXClient; accountId: string } | undefined;
      try {
        const destination = await rt.store.destinations.get(row.sandbox_id, row.destination_id);
        if (!destination) return false;
        x = { client: await rt.clientFor(destination), accountId: destination.accountId };
        await pollHealth(rt, x.client, x.accountId, {
          id: row.id,
          sandboxId: row.sandbox_id,
          xAudienceId: row.x_audience_id!,
        });
        return true;
      } catch (error) {
        // Deleted at X (by hand, or X's store was reset), as X confirms: recreate it with every desired member, as
        // delivery does. A stray 404 (X's HTML one) is not that.
        const gone =
          isXAdsError(error) &&
          error.kind === 'not_found' &&
          x !== undefined &&
          (await resetIfGone(rt, row.id, { ...x, xAudienceId: row.x_audience_id! }));
        if (!gone)
          rt.logger.warn({ audienceId: row.id, error: String(error) }, 'audience health poll failed');
        return false;
      }
    };
    if (await locks.run(row.id, () => withLease(rt, row.id, poll).then((done) => done === true))) polled += 1;
  }
  return polled;
}

/**
 * Samples the changes waiting for delivery of every active audience into the current run of its dataflow (see
 * `recordPendingSamples`), so the runs keep the backlog's history. One count per audience on the pending index.
 * Returns the samples recorded.
 */
export async function samplePending(rt: EngineRuntime): Promise<number> {
  const rows = await sql<{ id: string; dataflow_id: string; pending: number }>`select a.id, a.dataflow_id,
      (select count(*) from engine_ledger l where l.audience_id = a.id and l.pending = 1) as pending
    from engine_audiences a where a.lifecycle = 'active'`.execute(rt.store.db);
  const byDataflow = new Map<string, number>();
  const all: PendingSample[] = [];
  for (const row of rows.rows) {
    const pending = Number(row.pending);
    byDataflow.set(row.dataflow_id, (byDataflow.get(row.dataflow_id) ?? 0) + pending);
    all.push({ dataflowId: row.dataflow_id, audienceId: row.id, value: pending });
  }
  for (const [dataflowId, value] of byDataflow) all.push({ dataflowId, value });
  // Nothing waiting, and nothing waited at the last sample: an idle dataflow gets no run for it.
  const last = lastSamples.get(rt) ?? new Map<string, number>();
  lastSamples.set(rt, last);
  const samples = all.filter((sample) => {
    const key = `${sample.dataflowId}\u0000${sample.audienceId ?? ''}`;
    const before = last.get(key) ?? 0;
    last.set(key, sample.value);
    return sample.value > 0 || before > 0;
  });
  await recordPendingSamples(rt.store.db as unknown as Db, rt.store.capabilities, samples, rt.now());
  return samples.length;
}

/** Each runtime's last sample per dataflow and audience, so idle ones are not recorded again and again. */
const lastSamples = new WeakMap<EngineRuntime, Map<string, number>>();

/** The background loop: sync, resume verified pauses, deliver due audiences concurrently, poll health, prune. */
export function startWorkerLoop(rt: EngineRuntime, locks: AudienceLocks): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const inFlight = new Set<string>();
  let lastSlow = 0;
  // The slow upkeep (verifying paused destinations, health polls, backlog samples, pruning) runs beside delivery, one
  // pass at a time: an X that answers a health poll slowly, or only after its retries, holds back no delivery.
  let upkeep: Promise<void> | null = null;
  const runUpkeep = async () => {
    try {
      await resumeVerified(rt);
      await pollDueHealth(rt, locks);
      await samplePending(rt);
      await pruneHistory(rt);
    } catch (error) {
      rt.logger.error({ error: String(error) }, 'worker upkeep failed');
    }
  };

  const tick = async () => {
    try {
      await syncAudiences(rt);
      const now = rt.now();
      if (upkeep === null && now - lastSlow >= 30_000) {
        lastSlow = now;
        upkeep = runUpkeep().finally(() => {
          upkeep = null;
        });
      }
      // Up to `concurrency` audiences in flight; the tick does not wait for them, so an audience whose X is slow
      // (timeouts, retries, back-off) holds one lane, not the next tick: a lane that frees up is filled at once.
      const lanes = Math.max(1, rt.tuning.concurrency);
      if (inFlight.size >= lanes) return;
      for (const id of await dueAudiences(rt)) {
        if (stopped || inFlight.size >= lanes) break;
        if (inFlight.has(id)) continue;
        inFlight.add(id);
        void deliverClaimed(rt, locks, id)
          .catch((error: unknown) =>
            rt.logger.error({ audienceId: id, error: String(error) }, 'delivery pass failed'),
          )
          .finally(() => inFlight.delete(id));
      }
    } catch (error) {
      rt.logger.error({ error: String(error) }, 'worker tick failed');
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, rt.tuning.tickMs);
  };
  running = tick().finally(schedule);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await upkeep;
      await locks.idle();
    },
  };
}
