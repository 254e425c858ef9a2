import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useApp } from '../app-context.tsx';
import { Empty, Field, Metric, QueryView, StatusBadge, TableScroll } from '../components/ui.tsx';
import { FiringAlerts, Silences } from '../components/alerts.tsx';
import { RangeField, RunTotalsMetrics } from '../components/run-totals.tsx';
import { ATTENTION_LABEL, formatAge, nextSort, visibleRows, type Sort, type SortKey } from '../monitoring.ts';
import { NextDeliveryCell } from '../components/next-delivery.tsx';
import { formatCount, formatRate, type RangeId } from '../run-metrics.ts';
import { formatRoute } from '../router.ts';

/** The overview's columns, and the key each sorts by (none: not sortable). */
const COLUMNS: Array<{ label: string; key?: SortKey; numeric?: boolean }> = [
  { label: 'Name', key: 'name' },
  { label: 'Destination' },
  { label: 'Status' },
  { label: 'Received', key: 'profilesReceived', numeric: true },
  { label: 'Activated', key: 'identitiesActivated', numeric: true },
  { label: 'Excluded', key: 'identitiesExcluded', numeric: true },
  { label: 'Failed', key: 'identitiesFailed', numeric: true },
  { label: 'Activation rate', key: 'activationRate', numeric: true },
  { label: 'Waiting', key: 'pendingChanges', numeric: true },
  { label: 'Next delivery', key: 'nextDeliveryAt' },
  { label: 'Last profiles', key: 'lastProfilesAt' },
  { label: 'Last delivery', key: 'lastDeliveryAt' },
  { label: 'Members at X', key: 'membersAtX', numeric: true },
];

/** The sandbox's dataflows at a glance: totals over a time range, what waits now, and which need a look. */
export function Dataflows() {
  const { api, session } = useApp();
  const [range, setRange] = useState<RangeId>('24h');
  const [search, setSearch] = useState('');
  const [attentionOnly, setAttentionOnly] = useState(false);
  // Null: those needing a look first, then by name.
  const [sort, setSort] = useState<Sort | null>(null);
  // Changes waiting and alerts hold now: looked at again every 30 s, as the alerts are evaluated every minute.
  const overview = useQuery({
    queryKey: [session.sandbox, 'monitoring', range],
    queryFn: () => api.monitoring(range),
    refetchInterval: 30_000,
  });
  const alerts = useQuery({
    queryKey: [session.sandbox, 'alerts', 'firing'],
    queryFn: () => api.listAlerts({ status: 'firing' }),
    refetchInterval: 30_000,
  });
  const dataflowName = (id: string) => overview.data?.dataflows.find((d) => d.dataflowId === id)?.name ?? id;

  return (
    <section className="page" aria-labelledby="dataflows-title">
      <h1 id="dataflows-title">Dataflows</h1>
      {alerts.data && alerts.data.length > 0 && <FiringAlerts alerts={alerts.data} />}
      <Silences dataflowName={dataflowName} />
      <QueryView query={overview} label="dataflows">
        {(data) => {
          if (data.dataflows.length === 0)
            return (
              <Empty title="No dataflows yet">
                <a href={formatRoute({ page: 'activate' })}>Activate audiences</a> to a connection to create
                one.
              </Empty>
            );
          const rows = visibleRows(data.dataflows, { search, attentionOnly, sort });
          const s = data.summary;
          const now = Date.parse(data.to);
          return (
            <>
              <div className="filters">
                <RangeField value={range} onChange={setRange} />
                <Field label="Search">
                  {(props) => (
                    <input
                      {...props}
                      type="search"
                      value={search}
                      placeholder="Name or destination"
                      onChange={(e) => setSearch(e.target.value)}
                    />
                  )}
                </Field>
                <label className="toggle">
                  <input
                    type="checkbox"
                    checked={attentionOnly}
                    onChange={(e) => setAttentionOnly(e.target.checked)}
                  />{' '}
                  Show only those needing a look ({s.needingAttention})
                </label>
              </div>
              <RunTotalsMetrics
                label="Totals of every dataflow for the range"
                totals={{
                  received: s.profilesReceived,
                  activated: s.identitiesActivated,
                  excluded: s.identitiesExcluded,
                  failed: s.identitiesFailed,
                  rate: s.activationRate,
                }}
                testIdPrefix="overview"
              >
                <Metric
                  label="Changes waiting now"
                  value={formatCount(s.pendingChanges)}
                  testId="overview-pending"
                />
              </RunTotalsMetrics>
              {rows.length === 0 ? (
                <Empty title="No dataflow matches">Clear the search or show every dataflow.</Empty>
              ) : (
                <TableScroll label="Dataflows table">
                  <table className="overview">
                    <caption className="visually-hidden">Dataflows</caption>
                    <thead>
                      <tr>
                        {COLUMNS.map((c) => (
                          <th
                            key={c.label}
                            scope="col"
                            className={c.numeric ? 'num' : undefined}
                            aria-sort={
                              c.key !== undefined && sort?.key === c.key
                                ? sort.descending
                                  ? 'descending'
                                  : 'ascending'
                                : undefined
                            }
                          >
                            {c.key === undefined ? (
                              c.label
                            ) : (
                              <button
                                type="button"
                                className="sort"
                                onClick={() => setSort(nextSort(sort, c.key!))}
                              >
                                {c.label}
                                {sort?.key === c.key ? (sort.descending ? ' ▼' : ' ▲') : ''}
                              </button>
                            )}
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {rows.map((d) => (
                        <tr key={d.dataflowId}>
                          <th scope="row">
                            <a href={formatRoute({ page: 'dataflow', id: d.dataflowId, tab: 'runs' })}>
                              {d.name}
                            </a>
                            {d.attention.length > 0 && (
                              <ul className="attention" aria-label="Needs a look">
                                {d.attention.map((a) => (
                                  <li key={a} className="badge badge-bad">
                                    {ATTENTION_LABEL[a]}
                                  </li>
                                ))}
                              </ul>
                            )}
                          </th>
                          <td className="wrap-anywhere">{d.destinationName ?? d.destinationId}</td>
                          <td>
                            <StatusBadge status={d.status} />
                          </td>
                          <td className="num">{formatCount(d.profilesReceived)}</td>
                          <td className="num">{formatCount(d.identitiesActivated)}</td>
                          <td className="num">{formatCount(d.identitiesExcluded)}</td>
                          <td className="num">{formatCount(d.identitiesFailed)}</td>
                          <td className="num">{formatRate(d.activationRate)}</td>
                          <td
                            className="num"
                            title={
                              d.oldestPendingAt === null
                                ? undefined
                                : `Oldest waiting since ${new Date(d.oldestPendingAt).toLocaleString()}`
                            }
                          >
                            {formatCount(d.pendingChanges)}
                          </td>
                          <NextDeliveryCell
                            waiting={{
                              pendingAdds: d.pendingChanges,
                              pendingRemoves: 0,
                              nextDeliveryAt: d.nextDeliveryAt,
                              nextDeliveryReason: d.nextDeliveryReason,
                            }}
                            now={now}
                          />
                          <td
                            className="small"
                            title={
                              d.lastProfilesAt === null
                                ? 'No profiles in the last 31 days'
                                : `Last profiles arrived ${new Date(d.lastProfilesAt).toLocaleString()}`
                            }
                          >
                            {formatAge(d.lastProfilesAt, now)}
                          </td>
                          <td
                            className="small"
                            title={
                              d.lastDeliveryAt === null
                                ? undefined
                                : new Date(d.lastDeliveryAt).toLocaleString()
                            }
                          >
                            {formatAge(d.lastDeliveryAt, now)}
                          </td>
                          <td className="num">{formatCount(d.membersAtX)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </TableScroll>
              )}
            </>
          );
        }}
      </QueryView>
    </section>
  );
}
