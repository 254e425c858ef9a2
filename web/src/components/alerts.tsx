import type { Alert } from '../api.ts';
import { formatRoute } from '../router.ts';

/**
 * What needs attention now: each firing alert with its severity and since when, linked to its dataflow unless the
 * page is the dataflow's own.
 */
export function FiringAlerts({ alerts, linked = true }: { alerts: Alert[]; linked?: boolean }) {
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
            {linked ? (
              <a href={formatRoute({ page: 'dataflow', id: a.dataflowId, tab: 'runs' })}>{a.message}</a>
            ) : (
              a.message
            )}{' '}
            <span className="small">since {new Date(a.firedAt).toLocaleString()}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
