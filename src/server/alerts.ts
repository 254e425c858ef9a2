import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import { describeNetworkFailure } from '../net/network-failure.ts';

export type AlertType =
  'dataflow_failed' | 'dataflow_paused' | 'dataflow_delayed' | 'exclusion_rate_exceeded';

/** What the evaluator needs to know about one dataflow. */
export interface DataflowHealth {
  sandbox: string;
  dataflowId: string;
  dataflowName: string;
  destinationId: string;
  /** The destination's alert webhook, if any. */
  webhookUrl: string | null;
  status: string;
  statusReason: string | null;
  /** Epoch ms of the oldest undelivered change. */
  oldestPendingAt: number | null;
  /** The latest hourly run with identities in it. */
  lastRun: { runId: string; activated: number; excluded: number; failed: number } | null;
}

export interface Alert {
  type: AlertType;
  severity: 'critical' | 'warning';
  sandbox: string;
  dataflowId: string;
  dataflowName: string;
  destinationId: string;
  message: string;
  firedAt: string;
  details: Record<string, unknown>;
}

export interface AlertThresholds {
  /** Share of a run's identities that may be excluded before alerting (0..1). */
  exclusionRate: number;
  delayMinutes: number;
}

/** Pauses a user asked for are not worth an alert; the engine's (401/403) are. */
export const USER_PAUSE_REASON = 'paused by a user';

/**
 * Decides which alerts to send. An alert fires when its condition becomes true and not again until the condition
 * has cleared (`active` holds the conditions currently true); an exclusion-rate alert fires once per run.
 */
export function evaluateAlerts(
  health: readonly DataflowHealth[],
  active: ReadonlySet<string>,
  thresholds: AlertThresholds,
  now: number,
): { alerts: Array<{ alert: Alert; webhookUrl: string | null }>; active: Set<string> } {
  const next = new Set<string>();
  const alerts: Array<{ alert: Alert; webhookUrl: string | null }> = [];
  const firedAt = new Date(now).toISOString();
  for (const h of health) {
    const raise = (
      key: string,
      type: AlertType,
      severity: Alert['severity'],
      message: string,
      details: Record<string, unknown>,
    ) => {
      next.add(key);
      if (active.has(key)) return;
      alerts.push({
        alert: {
          type,
          severity,
          sandbox: h.sandbox,
          dataflowId: h.dataflowId,
          dataflowName: h.dataflowName,
          destinationId: h.destinationId,
          message,
          firedAt,
          details,
        },
        webhookUrl: h.webhookUrl,
      });
    };
    if (h.status === 'failed') {
      raise(
        `${h.dataflowId}:failed`,
        'dataflow_failed',
        'critical',
        `Dataflow "${h.dataflowName}" failed: ${h.statusReason ?? 'see its runs'}`,
        {
          reason: h.statusReason,
        },
      );
    }
    if (h.status === 'paused' && h.statusReason !== USER_PAUSE_REASON) {
      raise(
        `${h.dataflowId}:paused`,
        'dataflow_paused',
        'critical',
        `Dataflow "${h.dataflowName}" is paused: ${h.statusReason ?? 'no reason given'}`,
        {
          reason: h.statusReason,
        },
      );
    }
    if (h.status === 'active' && h.oldestPendingAt !== null) {
      const minutes = (now - h.oldestPendingAt) / 60_000;
      if (minutes > thresholds.delayMinutes) {
        raise(
          `${h.dataflowId}:delayed`,
          'dataflow_delayed',
          'warning',
          `Dataflow "${h.dataflowName}" has changes waiting ${Math.floor(minutes)} minutes (threshold ${thresholds.delayMinutes})`,
          { oldestPendingAt: new Date(h.oldestPendingAt).toISOString(), minutes: Math.floor(minutes) },
        );
      }
    }
    if (h.lastRun) {
      const total = h.lastRun.activated + h.lastRun.excluded + h.lastRun.failed;
      const rate = total === 0 ? 0 : h.lastRun.excluded / total;
      if (total > 0 && rate > thresholds.exclusionRate) {
        raise(
          `${h.dataflowId}:exclusion:${h.lastRun.runId}`,
          'exclusion_rate_exceeded',
          'warning',
          `Dataflow "${h.dataflowName}" excluded ${(rate * 100).toFixed(1)}% of identities in run ${h.lastRun.runId} (threshold ${(thresholds.exclusionRate * 100).toFixed(1)}%)`,
          { runId: h.lastRun.runId, excluded: h.lastRun.excluded, total, rate },
        );
      }
    }
  }
  return { alerts, active: next };
}

/**
 * Evaluates alerts periodically and posts each as JSON to the destination's webhook and the global one.
 * `fetch` is a parameter so tests can use a real loopback receiver.
 */
export function startAlerts(options: {
  collect: () => Promise<DataflowHealth[]>;
  thresholds: AlertThresholds;
  globalWebhookUrl: string | undefined;
  intervalMs: number;
  logger: Logger;
  metrics?: ServiceMetrics;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
}): { check(): Promise<Alert[]>; stop(): Promise<void> } {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const now = options.now ?? Date.now;
  let active = new Set<string>();
  let running: Promise<Alert[]> | null = null;
  let stopped = false;

  const send = async (url: string, alert: Alert) => {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const res = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'tca-alerts' },
          body: JSON.stringify(alert),
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        if (res.ok) {
          options.metrics?.alertsSent.inc({ type: alert.type, outcome: 'sent' });
          return;
        }
        options.logger.warn(
          { type: alert.type, status: res.status, attempt },
          'alert webhook refused the alert',
        );
      } catch (e) {
        options.logger.warn(
          { type: alert.type, attempt, error: describeNetworkFailure(e).reason },
          'alert webhook unreachable',
        );
      }
    }
    options.metrics?.alertsSent.inc({ type: alert.type, outcome: 'failed' });
  };

  const check = async (): Promise<Alert[]> => {
    const health = await options.collect();
    const result = evaluateAlerts(health, active, options.thresholds, now());
    active = result.active;
    const sent: Alert[] = [];
    await Promise.all(
      result.alerts.map(async ({ alert, webhookUrl }) => {
        options.logger.warn({ alert: alert.type, dataflowId: alert.dataflowId }, alert.message);
        const urls = [
          ...new Set(
            [webhookUrl, options.globalWebhookUrl].filter(
              (u): u is string => typeof u === 'string' && u !== '',
            ),
          ),
        ];
        await Promise.all(urls.map((u) => send(u, alert)));
        sent.push(alert);
      }),
    );
    return sent;
  };

  const tick = () => {
    if (stopped || running) return;
    running = check()
      .catch((e: unknown) => {
        options.logger.error({ error: (e as Error).message }, 'alert evaluation failed');
        return [];
      })
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
