import { useQuery } from '@tanstack/react-query';
import { useApp } from '../app-context.tsx';
import { Empty, QueryView, StatusBadge } from '../components/ui.tsx';
import { FiringAlerts, Silences } from '../components/alerts.tsx';
import { formatRoute } from '../router.ts';

export function Dataflows() {
  const { api, session } = useApp();
  const dataflows = useQuery({
    queryKey: [session.sandbox, 'dataflows'],
    queryFn: () => api.listDataflows(),
  });
  const destinations = useQuery({
    queryKey: [session.sandbox, 'destinations'],
    queryFn: () => api.listDestinations(),
  });
  const destinationName = (id: string) => destinations.data?.find((d) => d.id === id)?.name ?? id;
  // Firing alerts, looked at again every 30 s: the service evaluates them every minute by default.
  const alerts = useQuery({
    queryKey: [session.sandbox, 'alerts', 'firing'],
    queryFn: () => api.listAlerts({ status: 'firing' }),
    refetchInterval: 30_000,
  });

  return (
    <section className="page" aria-labelledby="dataflows-title">
      <h1 id="dataflows-title">Dataflows</h1>
      {alerts.data && alerts.data.length > 0 && <FiringAlerts alerts={alerts.data} />}
      <Silences dataflowName={(id) => dataflows.data?.find((d) => d.id === id)?.name ?? id} />
      <QueryView query={dataflows} label="dataflows">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No dataflows yet">
              <a href={formatRoute({ page: 'activate' })}>Activate audiences</a> to a connection to create
              one.
            </Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Dataflows</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Destination</th>
                    <th scope="col" className="num">
                      Audiences
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((d) => (
                    <tr key={d.id}>
                      <th scope="row">
                        <a href={formatRoute({ page: 'dataflow', id: d.id, tab: 'runs' })}>{d.name}</a>
                      </th>
                      <td>{destinationName(d.destinationId)}</td>
                      <td className="num">{d.audiences.length}</td>
                      <td>
                        <StatusBadge status={String(d.status)} />
                      </td>
                      <td className="small">{d.createdAt ? new Date(d.createdAt).toLocaleString() : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryView>
    </section>
  );
}
