/**
 * The alert types, shared by the alert runner, the API, the CLI and the console (no imports: the console bundles
 * it). See `alerts.ts` for when each fires and clears.
 */

/** The types a condition fires as (every type but `test`), which a destination's own targets may subscribe to. */
export const ALERT_TYPES = [
  'dataflow_failed',
  'dataflow_paused',
  'dataflow_delayed',
  'exclusion_rate_exceeded',
  'audience_not_targetable',
  'dataflow_no_data',
] as const;

/**
 * Run notifications: news, not problems (a run started, a run activated its identities without failures). Sent only
 * to the destination targets that list them (`alertTypes`): "every type" leaves them out, and the installation's
 * targets and PagerDuty never get them. Nothing fires or resolves: each is sent once per run.
 */
export const RUN_NOTICE_TYPES = ['dataflow_run_started', 'dataflow_run_succeeded'] as const;

export type RunNoticeType = (typeof RUN_NOTICE_TYPES)[number];

/** What a destination's own targets may subscribe to, in the order they are listed: alert types, run notifications. */
export const SUBSCRIBABLE_TYPES = [...ALERT_TYPES, ...RUN_NOTICE_TYPES] as const;

export type SubscribableAlertType = (typeof SUBSCRIBABLE_TYPES)[number];

/** Every alert type: those conditions fire as, and `test`, sent on request to check that a webhook is reached. */
export type AlertType = SubscribableAlertType | 'test';

/** Each type in a few words, as the console's choices name it. */
export const ALERT_TYPE_DESCRIPTIONS: Record<SubscribableAlertType, string> = {
  dataflow_run_started: 'A run starts activating identities (at most once an hour per dataflow)',
  dataflow_run_succeeded: 'A run ended with identities activated and none failed',
  dataflow_failed: 'A dataflow failed',
  dataflow_paused: 'X refused the credentials or permissions (the dataflow is paused)',
  dataflow_delayed: 'Changes wait longer than the delay threshold',
  exclusion_rate_exceeded: 'A run excluded more identities than the threshold',
  audience_not_targetable: 'X will not target an audience (too small)',
  dataflow_no_data: 'No profiles arrived for the hours the dataflow expects (its source stopped?)',
};

/**
 * Whether an audience X will not target needs a look: not while X still processes it (PROCESSING takes hours after
 * an audience is made or grows; X says so with its other reasons, TOO_SMALL among them).
 */
export function notTargetableAfterProcessing(audience: {
  targetable: boolean | null;
  reasons: readonly string[];
}): boolean {
  return (
    audience.targetable === false && audience.reasons.length > 0 && !audience.reasons.includes('PROCESSING')
  );
}
