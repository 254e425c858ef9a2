import { useQuery } from '@tanstack/react-query';
import { useApp } from '../app-context.tsx';
import { ConfirmDelete } from '../components/confirm-delete.tsx';
import { Empty, QueryView, StatusBadge, TableScroll } from '../components/ui.tsx';
import { TestNotification } from '../components/alerts.tsx';
import { formatRoute } from '../router.ts';
import type { Destination } from '../api.ts';
import { WEBHOOK_FORMATS } from '../webhook-formats.ts';

export function Catalog() {
  const { api, session } = useApp();
  const destinations = useQuery({
    queryKey: [session.sandbox, 'destinations'],
    queryFn: () => api.listDestinations(),
  });
  const hasConnections = (destinations.data?.length ?? 0) > 0;

  return (
    <section className="page" aria-labelledby="catalog-title">
      <h1 id="catalog-title">Destinations</h1>
      <h2 className="section-title">Catalog</h2>
      <div className="catalog">
        <article className="card destination-card" aria-labelledby="xca-title">
          <div className="destination-logo" aria-hidden="true">
            𝕏
          </div>
          <div>
            <h3 id="xca-title">X Custom Audiences</h3>
            <p className="muted">
              Keep X List Custom Audiences equal to your segments: members who qualify are added, members who
              exit are removed. Streaming · audience export · people audiences from Segmentation Service.
            </p>
            <p className="small muted">
              Identifiers: email, device_id, phone_number, handle, twitter_id, partner_user_id.
            </p>
          </div>
          <div className="card-actions">
            {hasConnections ? (
              <>
                <a className="button" href={formatRoute({ page: 'activate' })}>
                  Activate
                </a>
                <a className="button secondary" href={formatRoute({ page: 'connect' })}>
                  Configure new destination
                </a>
              </>
            ) : (
              <a className="button" href={formatRoute({ page: 'connect' })}>
                Set up
              </a>
            )}
          </div>
        </article>
      </div>

      <h2 id="connections-title" className="section-title" tabIndex={-1}>
        Connections
      </h2>
      <QueryView query={destinations} label="connections">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No connections yet">
              Choose <strong>Set up</strong> on the X Custom Audiences card to connect an X Ads account.
            </Empty>
          ) : (
            <TableScroll label="Configured X Custom Audiences connections">
              <table>
                <caption className="visually-hidden">Configured X Custom Audiences connections</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Account ID</th>
                    <th scope="col">Status</th>
                    <th scope="col">Marketing actions</th>
                    <th scope="col">Its alerts also go to</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((d) => (
                    <tr key={d.id}>
                      <th scope="row">
                        {d.name}
                        {d.description ? <div className="small muted">{d.description}</div> : null}
                      </th>
                      <td>
                        <code>{d.accountId}</code>
                      </td>
                      <td>
                        <StatusBadge status={String(d.status)} />
                        {d.statusReason ? <div className="small muted">{d.statusReason}</div> : null}
                      </td>
                      <td className="small">
                        {d.marketingActions?.length ? d.marketingActions.join(', ') : '—'}
                      </td>
                      <td className="small" data-testid="alert-routes">
                        <AlertRoutes destination={d} />
                      </td>
                      <td>
                        <div className="row-actions">
                          <a href={formatRoute({ page: 'connect', destinationId: d.id })}>Edit / verify</a>
                          <a href={formatRoute({ page: 'activate', destinationId: d.id })}>
                            Activate audiences
                          </a>
                          {d.alertWebhook ? <TestAlert destinationId={d.id} name={d.name} /> : null}
                          {d.hasAlertPagerDutyKey ? (
                            <TestIncident destinationId={d.id} name={d.name} />
                          ) : null}
                          {d.alertEmailTo?.length ? (
                            <TestEmail destinationId={d.id} name={d.name} to={d.alertEmailTo} />
                          ) : null}
                          <DeleteConnection destination={d} />
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )
        }
      </QueryView>
    </section>
  );
}

/**
 * Deletes a connection once confirmed. The service refuses while a dataflow uses it (409, each such dataflow named in
 * the details): the refusal is shown in the row, with what to do.
 */
function DeleteConnection({ destination }: { destination: Destination }) {
  const { api } = useApp();
  return (
    <ConfirmDelete
      name={destination.name}
      question={
        <>
          Delete the connection “{destination.name}”? Its stored credentials are forgotten. X audiences in
          account <code>{destination.accountId}</code> are not touched.
        </>
      }
      failedTitle="The connection was not deleted"
      emptyFocusId="connections-title"
      remove={() => api.deleteDestination(destination.id)}
      refused={(error) => (
        <>
          <strong>“{destination.name}” was not deleted: dataflows still use it.</strong>
          <ul>
            {error.details.map((d, i) => (
              <li key={i}>{d.reason.replace(/^used by/, 'Used by')}</li>
            ))}
          </ul>
        </>
      )}
    />
  );
}

/** Sends a test notification to the connection's alert webhook and says whether it arrived. */
function TestEmail({ destinationId, name, to }: { destinationId: string; name: string; to: string[] }) {
  const { api } = useApp();
  return (
    <TestNotification
      label="Send test email"
      ariaLabel={`Send test email (${name})`}
      buttonClassName="link-button"
      send={() => api.testDestinationEmail(destinationId)}
      accepted={() => `The SMTP server accepted the test email to ${to.join(', ')}`}
      errorTitle="The test email could not be sent"
    />
  );
}

/**
 * Where a connection's own alerts go, besides the installation's: a webhook by its origin (its URL is a secret), the
 * PagerDuty service of its own key, and its email recipients.
 */
function AlertRoutes({ destination: d }: { destination: Destination }) {
  const routes = [
    ...(d.alertWebhook
      ? [
          `Webhook at ${d.alertWebhook.origin}${d.alertWebhook.format === 'json' ? '' : ` (${WEBHOOK_FORMATS[d.alertWebhook.format].name})`}`,
        ]
      : []),
    ...(d.hasAlertPagerDutyKey ? ['Its own PagerDuty service'] : []),
    ...(d.alertEmailTo?.length ? [`Email to ${d.alertEmailTo.join(', ')}`] : []),
  ];
  if (routes.length === 0) return <span className="muted">Only the installation&apos;s targets</span>;
  return (
    <>
      <ul className="plain-list">
        {routes.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
      {d.alertTypes === null ? null : (
        <span className="muted">
          {d.alertTypes.length === 0
            ? 'No alert types: subscribed to none'
            : `Only ${d.alertTypes.join(', ')}`}
        </span>
      )}
    </>
  );
}

function TestIncident({ destinationId, name }: { destinationId: string; name: string }) {
  const { api } = useApp();
  return (
    <TestNotification
      label="Send test incident"
      ariaLabel={`Send test incident (${name})`}
      buttonClassName="link-button"
      send={() => api.testDestinationPagerDuty(destinationId)}
      accepted={(error) =>
        `PagerDuty accepted the test incident${error ? `; but ${error}` : ', now resolved'}`
      }
      errorTitle="The test incident could not be sent"
    />
  );
}

function TestAlert({ destinationId, name }: { destinationId: string; name: string }) {
  const { api } = useApp();
  return (
    <TestNotification
      label="Send test alert"
      ariaLabel={`Send test alert (${name})`}
      buttonClassName="link-button"
      send={() => api.testAlert(destinationId)}
      accepted={() => 'Delivered to the alert webhook'}
      errorTitle="The test alert could not be sent"
    />
  );
}
