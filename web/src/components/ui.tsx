import { useEffect, useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';

/** An API or network error as a readable message: the service's own words, then each detail with its path. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  const message = error instanceof Error ? error.message : String(error);
  const details = error instanceof ApiError ? error.details : [];
  const code = error instanceof ApiError ? error.code : null;
  return (
    <div className="callout callout-error" role="alert">
      <strong>{title ?? 'Something went wrong'}</strong>
      <p>
        {message}
        {code ? <span className="muted"> ({code})</span> : null}
      </p>
      {details.length > 0 ? (
        <ul>
          {details.map((d, i) => (
            <li key={i}>
              <code>{d.path || '(request)'}</code>: {d.reason}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <strong>{title}</strong>
      {children ? <div>{children}</div> : null}
    </div>
  );
}

interface QueryLike<T> {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data: T | undefined;
}

/** Renders loading and error states for a query and hands the data to `children` once it is there. */
export function QueryView<T>({
  query,
  label,
  children,
}: {
  query: QueryLike<T>;
  label: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading label={`Loading ${label}…`} />;
  if (query.isError) return <ErrorMessage error={query.error} title={`Could not load ${label}`} />;
  if (query.data === undefined) return <Loading label={`Loading ${label}…`} />;
  return <>{children(query.data)}</>;
}

const STATUS_TONE: Record<string, string> = {
  connected: 'ok',
  enabled: 'ok',
  completed: 'ok',
  pass: 'ok',
  active: 'ok',
  processing: 'info',
  unverified: 'warn',
  unauthorized: 'bad',
  paused: 'warn',
  warn: 'warn',
  skipped: 'muted',
  disabled: 'muted',
  error: 'bad',
  firing: 'bad',
  resolved: 'ok',
  fail: 'bad',
  failed: 'bad',
  revoked: 'muted',
  done: 'ok',
  refused: 'bad',
};

export function StatusBadge({ status }: { status: string }) {
  const tone = STATUS_TONE[status.toLowerCase()] ?? 'muted';
  return <span className={`badge badge-${tone}`}>{status.replace(/_/g, ' ')}</span>;
}

export function Stepper({
  steps,
  current,
}: {
  steps: readonly { id: string; label: string }[];
  current: string;
}) {
  const index = steps.findIndex((s) => s.id === current);
  return (
    <ol className="stepper" aria-label="Progress">
      {steps.map((step, i) => (
        <li
          key={step.id}
          className={i < index ? 'done' : i === index ? 'current' : ''}
          aria-current={i === index ? 'step' : undefined}
        >
          <span className="step-number" aria-hidden="true">
            {i + 1}
          </span>
          {step.label}
        </li>
      ))}
    </ol>
  );
}

/** A labelled form control: label/for, hint and error wired with aria-describedby. */
export function Field({
  label,
  hint,
  error,
  children,
  optional,
}: {
  label: string;
  hint?: ReactNode;
  error?: ReactNode;
  optional?: boolean;
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ReactNode;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ');
  const props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean } = { id };
  if (describedBy) props['aria-describedby'] = describedBy;
  if (error) props['aria-invalid'] = true;
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>
        {label}
        {optional ? <span className="muted"> (optional)</span> : null}
      </label>
      {children(props)}
      {hint ? (
        <div className="hint" id={hintId}>
          {hint}
        </div>
      ) : null}
      {error ? (
        <div className="error-text" id={errorId}>
          {error}
        </div>
      ) : null}
    </div>
  );
}

/** The "remove members at the end date" choice of a segment's schedule. */
export function RemoveAtEnd({
  checked,
  error,
  onChange,
}: {
  checked: boolean;
  error?: string | undefined;
  onChange: (checked: boolean) => void;
}) {
  const id = useId();
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={checked}
          aria-invalid={error ? true : undefined}
          aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`}
          onChange={(e) => onChange(e.target.checked)}
        />{' '}
        Remove members from the X audience when the end date passes
      </label>
      <div className="hint" id={`${id}-hint`}>
        Otherwise they stay in the X audience after the end date; only new changes stop.
      </div>
      {error ? (
        <div className="error-text" id={`${id}-error`}>
          {error}
        </div>
      ) : null}
    </div>
  );
}

/**
 * The scroll container of a table: a table wider than the window scrolls inside it, never the page. It is a named
 * region, and while its table is wider than it is, a stop in the tab order, so the keyboard can reach it and scroll it
 * with the arrow keys (focus shows as everywhere else).
 */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setScrolls(el.scrollWidth > el.clientWidth);
    measure();
    if (typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    for (const child of Array.from(el.children)) observer.observe(child);
    return () => observer.disconnect();
  }, []);
  return (
    <div ref={box} className="table-wrap" role="region" aria-label={label} tabIndex={scrolls ? 0 : undefined}>
      {children}
    </div>
  );
}

/** One figure of a row of totals (`<div className="metrics">`). */
export function Metric({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <div className="metric card">
      <div className="metric-label">{label}</div>
      <div className="metric-value" data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
