import type { ReactNode } from 'react';
import { formatCount, formatRate, RANGES, type RangeId, type RunTotals } from '../run-metrics.ts';
import { Field, Metric } from './ui.tsx';

/** The time range a monitoring view covers: the last 24 hours, 7 days or 30 days. */
export function RangeField({ value, onChange }: { value: RangeId; onChange: (range: RangeId) => void }) {
  return (
    <Field label="Time range">
      {(props) => (
        <select {...props} value={value} onChange={(e) => onChange(e.target.value as RangeId)}>
          {RANGES.map((r) => (
            <option key={r.id} value={r.id}>
              {r.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/**
 * Received, activated, excluded and failed counts and the activation rate of a range, as a row of figures (test ids
 * `<testIdPrefix>-received` and so on); `children` adds figures after them.
 */
export function RunTotalsMetrics({
  label,
  totals,
  testIdPrefix,
  children,
}: {
  label: string;
  totals: RunTotals;
  testIdPrefix: string;
  children?: ReactNode;
}) {
  return (
    <div className="metrics" aria-label={label}>
      {(
        [
          ['Profiles received', formatCount(totals.received), 'received'],
          ['Identities activated', formatCount(totals.activated), 'activated'],
          ['Identities excluded', formatCount(totals.excluded), 'excluded'],
          ['Identities failed', formatCount(totals.failed), 'failed'],
          ['Activation rate', formatRate(totals.rate), 'rate'],
        ] as const
      ).map(([name, value, id]) => (
        <Metric key={id} label={name} value={value} testId={`${testIdPrefix}-${id}`} />
      ))}
      {children}
    </div>
  );
}
