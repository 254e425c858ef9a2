import { useId, useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Alert, AlertSilence } from '../api.ts';
import { useApp } from '../app-context.tsx';
import { formatRoute } from '../router.ts';
import { ErrorMessage } from './ui.tsx';

/**
 * A button that sends a test notification (to an alert webhook, or a PagerDuty incident) and says whether it was
 * accepted, and if not why.
 */
export function TestNotification({
  label,
  send,
  accepted,
  errorTitle,
  ariaLabel,
  buttonClassName = 'secondary',
  testId,
  children,
}: {
  label: string;
  send: () => Promise<{ delivered: boolean; error: string | null }>;
  /** What to say when it was accepted (`error`: a problem after that, such as a test incident not resolved). */
  accepted: (error: string | null) => string;
  errorTitle: string;
  ariaLabel?: string;
  buttonClassName?: string;
  testId?: string;
  /** What the test is of, shown before the button. */
  children?: ReactNode;
}) {
  const mutation = useMutation({ mutationFn: send });
  return (
    <div className="test-alert" data-testid={testId}>
      {children}
      <button
        type="button"
        className={buttonClassName}
        aria-label={ariaLabel}
        disabled={mutation.isPending}
        onClick={() => mutation.mutate()}
      >
        {mutation.isPending ? 'Sending…' : label}
      </button>
      <div role="status" className="small">
        {mutation.data ? (
          mutation.data.delivered ? (
            <span className="ok-text">{accepted(mutation.data.error)}</span>
          ) : (
            <span className="bad-text">Not delivered: {mutation.data.error ?? 'refused'}</span>
          )
        ) : null}
      </div>
      {mutation.error ? <ErrorMessage error={mutation.error} title={errorTitle} /> : null}
    </div>
  );
}

/** How long a silence made here lasts: the choices offered. */
const SILENCE_CHOICES = [
  { minutes: 60, label: '1 hour' },
  { minutes: 240, label: '4 hours' },
  { minutes: 1440, label: '1 day' },
  { minutes: 10080, label: '1 week' },
];

/**
 * What needs attention now: each firing alert with its severity and since when, linked to its dataflow unless the
 * page is the dataflow's own. One a silence holds back says so; with Activate Destinations, each can be silenced.
 */
export function FiringAlerts({ alerts, linked = true }: { alerts: Alert[]; linked?: boolean }) {
  const { session } = useApp();
  const maySilence = session.permissions.includes('Activate Destinations');
  return (
    <section
      className="callout callout-error"
      aria-labelledby="firing-alerts-title"
      data-testid="firing-alerts"
    >
      <h2 id="firing-alerts-title" className="callout-title">
        {alerts.length === 1 ? '1 alert firing' : `${alerts.length} alerts firing`}
      </h2>
      <ul className="alert-list">
        {alerts.map((a) => (
          <li key={a.alertId}>
            <span className={`badge badge-${a.severity === 'critical' ? 'bad' : 'warn'}`}>{a.severity}</span>{' '}
            {a.notified ? null : (
              <>
                <span className="badge" title="A silence holds its notification back">
                  silenced
                </span>{' '}
              </>
            )}
            {a.acknowledgedBy === null ? null : (
              <>
                <span
                  className="badge badge-info badge-plain"
                  title={`Acknowledged ${a.acknowledgedAt === null ? '' : new Date(a.acknowledgedAt).toLocaleString()}: no more reminders`}
                >
                  acknowledged by {a.acknowledgedBy}
                </span>{' '}
              </>
            )}
            {linked ? (
              <a href={formatRoute({ page: 'dataflow', id: a.dataflowId, tab: 'runs' })}>{a.message}</a>
            ) : (
              a.message
            )}{' '}
            <span className="small">since {new Date(a.firedAt).toLocaleString()}</span>
            {maySilence && a.acknowledgedBy === null ? <AcknowledgeButton alert={a} /> : null}
            {maySilence && a.notified ? <SilenceForm alert={a} /> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Acknowledges the alert (someone is on it): no more reminders are sent, its PagerDuty incident is acknowledged. */
function AcknowledgeButton({ alert }: { alert: Alert }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const acknowledge = useMutation({
    mutationFn: () => api.acknowledgeAlert(alert.alertId),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox, 'alerts'] }),
  });
  return (
    <>
      {' '}
      <button
        type="button"
        className="secondary small"
        disabled={acknowledge.isPending}
        aria-label={`Acknowledge the ${alert.type.replace(/_/g, ' ')} alert of ${alert.dataflowName}`}
        onClick={() => acknowledge.mutate()}
      >
        Acknowledge
      </button>
      {acknowledge.error ? <ErrorMessage error={acknowledge.error} title="Not acknowledged" /> : null}
    </>
  );
}

/** Silences alerts of this one's type and dataflow for a chosen time, with the reason asked for. */
function SilenceForm({ alert }: { alert: Alert }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const id = useId();
  const [minutes, setMinutes] = useState(SILENCE_CHOICES[1]!.minutes);
  const [comment, setComment] = useState('');
  const silence = useMutation({
    mutationFn: () =>
      api.createSilence({
        dataflowId: alert.dataflowId,
        type: alert.type as NonNullable<AlertSilence['type']>,
        durationMinutes: minutes,
        comment: comment.trim(),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox, 'silences'] }),
  });
  if (silence.data)
    return (
      <p role="status" className="small">
        Silenced until {new Date(silence.data.endsAt).toLocaleString()}: nothing more is sent for it until
        then.
      </p>
    );
  return (
    <details className="silence">
      <summary>Silence…</summary>
      <form
        className="silence-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (comment.trim() !== '') silence.mutate();
        }}
      >
        <label htmlFor={`${id}-for`}>For</label>
        <select id={`${id}-for`} value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
          {SILENCE_CHOICES.map((c) => (
            <option key={c.minutes} value={c.minutes}>
              {c.label}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-why`}>Why</label>
        <input
          id={`${id}-why`}
          required
          maxLength={500}
          value={comment}
          placeholder="e.g. rotating the X app keys"
          onChange={(e) => setComment(e.target.value)}
        />
        <button type="submit" disabled={silence.isPending || comment.trim() === ''}>
          {silence.isPending ? 'Silencing…' : 'Silence'}
        </button>
      </form>
      {silence.error ? <ErrorMessage error={silence.error} title="The alert could not be silenced" /> : null}
    </details>
  );
}

/** The sandbox's pending and active silences, each with what it covers, until when, why, and a way to end it. */
export function Silences({ dataflowName }: { dataflowName: (id: string) => string }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const mayEnd = session.permissions.includes('Activate Destinations');
  const silences = useQuery({
    queryKey: [session.sandbox, 'silences'],
    queryFn: () => api.listSilences(),
    refetchInterval: 60_000,
  });
  const end = useMutation({
    mutationFn: (id: string) => api.endSilence(id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox, 'silences'] }),
  });
  const list = silences.data ?? [];
  if (list.length === 0) return null;
  return (
    <section className="callout" aria-labelledby="silences-title" data-testid="silences">
      <h2 id="silences-title" className="callout-title">
        {list.length === 1 ? '1 alert silence' : `${list.length} alert silences`}
      </h2>
      <ul className="alert-list">
        {list.map((s) => (
          <li key={s.id}>
            <span className="badge">{s.state}</span>{' '}
            {s.type === null ? 'Every alert' : `${sentenceCase(s.type.replaceAll('_', ' '))} alerts`} of{' '}
            {s.dataflowId === null ? (
              'every dataflow'
            ) : (
              <a href={formatRoute({ page: 'dataflow', id: s.dataflowId, tab: 'runs' })}>
                {dataflowName(s.dataflowId)}
              </a>
            )}{' '}
            <span className="small">
              {s.state === 'pending' ? `from ${new Date(s.startsAt).toLocaleString()} ` : ''}
              until {new Date(s.endsAt).toLocaleString()}, by {s.createdBy}: “{s.comment}”
            </span>{' '}
            {mayEnd ? (
              <button
                type="button"
                className="link-button"
                aria-label={`End silence ${s.id}`}
                disabled={end.isPending}
                onClick={() => end.mutate(s.id)}
              >
                End now
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {end.error ? <ErrorMessage error={end.error} title="The silence could not be ended" /> : null}
    </section>
  );
}

const sentenceCase = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
