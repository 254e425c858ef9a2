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

export type SubscribableAlertType = (typeof ALERT_TYPES)[number];

/** Every alert type: those conditions fire as, and `test`, sent on request to check that a webhook is reached. */
export type AlertType = SubscribableAlertType | 'test';

/** Each type in a few words, as the console's choices name it. */
export const ALERT_TYPE_DESCRIPTIONS: Record<SubscribableAlertType, string> = {
  dataflow_failed: 'A dataflow failed',
  dataflow_paused: 'X refused the credentials or permissions (the dataflow is paused)',
  dataflow_delayed: 'Changes wait longer than the delay threshold',
  exclusion_rate_exceeded: 'A run excluded more identities than the threshold',
  audience_not_targetable: 'X will not target an audience (too small)',
  dataflow_no_data: 'No profiles arrived for the hours the dataflow expects (its source stopped?)',
};
