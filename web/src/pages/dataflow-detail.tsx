import { useMutation, useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { ApiError, fetchServiceCounters, fileFormatOf, namedFileFormat } from '../api.ts';
import type {
  Alert,
  Audience,
  AudienceRemoval,
  Dataflow,
  DataflowRun,
  DeadLetter,
  FileFormat,
  ImportQuery,
  ImportRecord,
  ScheduleInput,
  Segment,
  UrlImportQuery,
} from '../api.ts';
import { useApp } from '../app-context.tsx';
import { emptyDraft } from '../activation-draft.ts';
import type { ActivationDraft } from '../activation-draft.ts';
import { SchedulingStep, SegmentsStep } from './activate-wizard.tsx';
import { MappingEditor } from '../components/mapping-editor.tsx';
import { NameInput } from '../components/name-input.tsx';
import {
  Empty,
  ErrorMessage,
  Field,
  Loading,
  Metric,
  QueryView,
  RemoveAtEnd,
  StatusBadge,
  TableScroll,
} from '../components/ui.tsx';
import {
  activationRate,
  appendSample,
  chartSeries,
  filterRuns,
  formatCount,
  formatRate,
  hourLabel,
  livePoints,
  RANGES,
  reasonTotals,
  RUN_FILTERS,
  totals,
} from '../run-metrics.ts';
import type { LiveSample, RangeId, RunFilterId } from '../run-metrics.ts';
import { DATAFLOW_TABS, formatRoute, navigate } from '../router.ts';
import type { DataflowTab } from '../router.ts';
import {
  scheduleToRequest,
  validateDataflowName,
  validateMapping,
  validateName,
  validateSchedule,
} from '../validation.ts';
import { canResume, importBlob } from '../import-files.ts';
import { formatAge } from '../monitoring.ts';
import { NextDeliveryCell } from '../components/next-delivery.tsx';
import { FiringAlerts } from '../components/alerts.tsx';
import { describeFlush } from '../../../src/server/flush-summary.ts';
import { RangeField, RunTotalsMetrics } from '../components/run-totals.tsx';
import type { MappingRow, ScheduleDraft, ScheduleErrors } from '../validation.ts';

const TAB_LABEL: Record<DataflowTab, string> = {
  runs: 'Runs & charts',
  audiences: 'Audiences',
  errors: 'Errors & exclusions',
  alerts: 'Alerts',
  'dead-letters': 'Dead letters',
  import: 'Import a file',
  settings: 'Mapping & schedule',
};

const COLORS = {
  activated: '#1d9b5f',
  excluded: '#c98a00',
  failed: '#d0342c',
  pending: '#5b6cff',
  requests: '#1d9bf0',
};

/** Monitoring pages refresh on their own so an audience can be watched while it fills. */
const LIVE_MS = 5_000;

/** How long "Deliver now" waits for the deliveries before letting them go on in the background. */
const FLUSH_WAIT_SECONDS = 10;

export function DataflowDetail({ id, tab, runId }: { id: string; tab: DataflowTab; runId?: string }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const dataflow = useQuery({
    queryKey: [session.sandbox, 'dataflow', id],
    queryFn: () => api.getDataflow(id),
  });
  // This dataflow's firing alerts, but the one its status already states (paused, failed).
  const alerts = useQuery({
    queryKey: [session.sandbox, 'alerts', 'firing'],
    queryFn: () => api.listAlerts({ status: 'firing' }),
    refetchInterval: 30_000,
    select: (list) =>
      list.filter((a) => a.dataflowId === id && a.type !== 'dataflow_paused' && a.type !== 'dataflow_failed'),
  });
  const flush = useMutation({
    // Short deliveries report here; longer ones go on in the background, and the tabs below show their progress.
    mutationFn: () => api.flushDataflow(id, FLUSH_WAIT_SECONDS),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  const toggle = useMutation({
    mutationFn: (status: 'active' | 'paused') => api.updateDataflow(id, { status }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });

  return (
    <section className="page" aria-labelledby="dataflow-title">
      <p className="breadcrumb">
        <a href={formatRoute({ page: 'dataflows' })}>Dataflows</a> /
      </p>
      <QueryView query={dataflow} label="the dataflow">
        {(flow) => (
          <>
            <div className="page-head">
              <h1 id="dataflow-title">
                {flow.name} <StatusBadge status={String(flow.status)} />
              </h1>
              <div className="actions">
                <button
                  type="button"
                  className="secondary"
                  disabled={flush.isPending || flow.status === 'paused' || flow.status === 'failed'}
                  onClick={() => flush.mutate()}
                >
                  {flush.isPending ? 'Delivering…' : 'Deliver now'}
                </button>
                {flow.status === 'paused' || flow.status === 'failed' ? (
                  <button type="button" disabled={toggle.isPending} onClick={() => toggle.mutate('active')}>
                    Resume
                  </button>
                ) : (
                  <button
                    type="button"
                    className="secondary"
                    disabled={toggle.isPending}
                    onClick={() => toggle.mutate('paused')}
                  >
                    Pause
                  </button>
                )}
              </div>
            </div>
            {flow.statusReason ? (
              <p className={flow.status === 'failed' ? 'callout callout-error' : 'callout'}>
                {flow.statusReason}
              </p>
            ) : null}
            {alerts.data && alerts.data.length > 0 ? (
              <FiringAlerts alerts={alerts.data} linked={false} />
            ) : null}
            {toggle.isError ? (
              <ErrorMessage error={toggle.error} title="Could not change the dataflow status" />
            ) : null}
            {flush.isError ? <ErrorMessage error={flush.error} title="Delivery failed" /> : null}
            {flush.data ? (
              // An audience left undelivered (paused on a 401, say) is shown as the failure it is, not as a success.
              <p
                className={
                  flush.data.status === 'incomplete' ? 'callout callout-error' : 'callout callout-ok'
                }
                role="status"
                data-testid="flush-result"
              >
                {describeFlush(flush.data)}
              </p>
            ) : null}
            <nav className="tabs" aria-label="Dataflow sections">
              <ul>
                {DATAFLOW_TABS.map((t) => (
                  <li key={t}>
                    <a
                      href={formatRoute({ page: 'dataflow', id, tab: t })}
                      aria-current={t === tab ? 'page' : undefined}
                    >
                      {TAB_LABEL[t]}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            {tab === 'runs' ? <RunsTab dataflow={flow} /> : null}
            {tab === 'audiences' ? <AudiencesTab dataflow={flow} /> : null}
            {tab === 'errors' ? <ErrorsTab dataflow={flow} {...(runId ? { runId } : {})} /> : null}
            {tab === 'alerts' ? <AlertsTab dataflow={flow} /> : null}
            {tab === 'dead-letters' ? <DeadLettersTab dataflow={flow} /> : null}
            {tab === 'import' ? <ImportTab dataflow={flow} /> : null}
            {tab === 'settings' ? <SettingsTab dataflow={flow} key={flow.id} /> : null}
          </>
        )}
      </QueryView>
    </section>
  );
}

function useRuns(dataflowId: string, hours: number) {
  const { api, session } = useApp();
  return useQuery({
    queryKey: [session.sandbox, 'runs', dataflowId, hours],
    queryFn: () => {
      // Whole hours, so the key stays stable between refreshes within an hour window.
      const from = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - hours * 3_600_000).toISOString();
      return api.listRuns(dataflowId, { from });
    },
    refetchInterval: LIVE_MS,
  });
}

function RunsTab({ dataflow }: { dataflow: Dataflow }) {
  const [range, setRange] = useState<RangeId>('24h');
  const [show, setShow] = useState<RunFilterId>('all');
  const hours = RANGES.find((r) => r.id === range)?.hours ?? 24;
  const runs = useRuns(dataflow.id, hours);

  return (
    <>
      <div className="filters">
        <RangeField value={range} onChange={setRange} />
        <Field label="Show">
          {(props) => (
            <select {...props} value={show} onChange={(e) => setShow(e.target.value as RunFilterId)}>
              {RUN_FILTERS.map((f) => (
                <option key={f.id} value={f.id}>
                  {f.label}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <QueryView query={runs} label="dataflow runs">
        {(list) => {
          const sum = totals(list);
          const shown = filterRuns(list, show);
          const series = chartSeries(list);
          return (
            <>
              <RunTotalsMetrics label="Totals for the range" totals={sum} testIdPrefix="total" />
              {list.length === 0 ? (
                <Empty title="No runs in this range yet">
                  Runs appear once profiles are ingested for this dataflow's segments; each hourly window is
                  one run.
                </Empty>
              ) : (
                <>
                  <div className="charts">
                    <figure
                      className="chart card"
                      aria-label="Identities activated, excluded and failed per hour"
                    >
                      <figcaption>Identities per hour</figcaption>
                      <ResponsiveContainer width="100%" height={220}>
                        <BarChart data={series}>
                          <CartesianGrid strokeDasharray="3 3" />
                          <XAxis dataKey="hour" fontSize={11} />
                          <YAxis allowDecimals={false} fontSize={11} tickFormatter={formatCount} />
                          <Tooltip />
                          <Legend />
                          <Bar dataKey="activated" name="Activated" stackId="ids" fill={COLORS.activated} />
                          <Bar dataKey="excluded" name="Excluded" stackId="ids" fill={COLORS.excluded} />
                          <Bar dataKey="failed" name="Failed" stackId="ids" fill={COLORS.failed} />
                        </BarChart>
                      </ResponsiveContainer>
                    </figure>
                    <ActivityCharts dataflowId={dataflow.id} runs={list} />
                  </div>
                  <RunsTable dataflowId={dataflow.id} runs={shown} filter={show} />
                </>
              )}
            </>
          );
        }}
      </QueryView>
    </>
  );
}

/** Samples this dataflow's pending changes and the service's X request counter while the page is open. */
function useLiveSeries(dataflowId: string): LiveSample[] {
  const { api } = useApp();
  const [series, setSeries] = useState<LiveSample[]>([]);
  useEffect(() => {
    let stopped = false;
    const sample = async () => {
      const [audiences, counters] = await Promise.all([
        api.listAudiences({ dataflowId }).catch(() => null),
        fetchServiceCounters(),
      ]);
      if (stopped || audiences === null) return;
      const pending = audiences.reduce((sum, a) => sum + a.pendingAdds + a.pendingRemoves, 0);
      setSeries((current) =>
        appendSample(current, { at: Date.now(), pending, xRequestsTotal: counters?.xRequests ?? null }),
      );
    };
    void sample();
    const timer = window.setInterval(() => void sample(), LIVE_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [api, dataflowId]);
  return series;
}

/**
 * Pending changes and X requests. Pending changes are a state, sampled while the page is open; X requests are
 * stored per run by the service (older services do not report them, and then the page samples those too).
 */
function ActivityCharts({ dataflowId, runs }: { dataflowId: string; runs: DataflowRun[] }) {
  const live = useLiveSeries(dataflowId);
  const points = livePoints(live);
  const requestsPerRun = runs.some((r) => r.xRequests !== undefined);
  const pendingPerRun = runs.some((r) => r.pendingPeak !== undefined);
  return (
    <>
      <SmallChart
        title="Pending changes (live)"
        note="This dataflow's changes waiting for delivery, sampled every 5 s while this page is open."
        data={points}
        xKey="time"
        dataKey="pending"
        kind="line"
        color={COLORS.pending}
      />
      {pendingPerRun ? (
        <SmallChart
          title="Pending changes, hourly peak"
          note="The most changes waiting for delivery at once in each run, as the service counts them every 30 s."
          data={chartSeries(runs)}
          xKey="hour"
          dataKey="pending"
          kind="bar"
          color={COLORS.pending}
        />
      ) : null}
      {requestsPerRun ? (
        <SmallChart
          title="X requests per hour"
          note="Requests sent to X to add or remove members (refused ones included), per run."
          data={chartSeries(runs)}
          xKey="hour"
          dataKey="requests"
          kind="bar"
          color={COLORS.requests}
        />
      ) : (
        <SmallChart
          title="X requests (live)"
          note="Requests of the whole service per 5 s, from /metrics."
          data={points}
          xKey="time"
          dataKey="requests"
          kind="bar"
          color={COLORS.requests}
        />
      )}
    </>
  );
}

function SmallChart<T extends object>({
  title,
  note,
  data,
  xKey,
  dataKey,
  kind,
  color,
}: {
  title: string;
  note?: string;
  data: T[];
  xKey: string;
  dataKey: string;
  kind: 'line' | 'bar';
  color: string;
}) {
  return (
    <figure className="chart card" aria-label={title}>
      <figcaption>
        {title}
        {note ? <span className="small muted"> · {note}</span> : null}
      </figcaption>
      <ResponsiveContainer width="100%" height={220}>
        {kind === 'line' ? (
          <LineChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey={xKey} fontSize={11} />
            <YAxis allowDecimals={false} fontSize={11} tickFormatter={formatCount} />
            <Tooltip />
            <Line
              type="monotone"
              dataKey={dataKey}
              name={title}
              stroke={color}
              isAnimationActive={false}
              dot={false}
            />
          </LineChart>
        ) : (
          <BarChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey={xKey} fontSize={11} />
            <YAxis allowDecimals={false} fontSize={11} tickFormatter={formatCount} />
            <Tooltip />
            <Bar dataKey={dataKey} name={title} fill={color} isAnimationActive={false} />
          </BarChart>
        )}
      </ResponsiveContainer>
    </figure>
  );
}

function RunsTable({
  dataflowId,
  runs,
  filter,
}: {
  dataflowId: string;
  runs: DataflowRun[];
  filter: RunFilterId;
}) {
  if (runs.length === 0)
    return (
      <Empty
        title={`No ${RUN_FILTERS.find((f) => f.id === filter)?.label.toLowerCase() ?? 'runs'} in this range`}
      />
    );
  return (
    <TableScroll label="Dataflow runs">
      <table data-testid="runs-table">
        <caption>Dataflow runs (one per hour)</caption>
        <thead>
          <tr>
            <th scope="col">Run start (UTC)</th>
            <th scope="col" className="num">
              Received
            </th>
            <th scope="col" className="num">
              Activated
            </th>
            <th scope="col" className="num">
              Excluded
            </th>
            <th scope="col" className="num">
              Failed
            </th>
            <th scope="col" className="num">
              Activation rate
            </th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {[...runs]
            .sort((a, b) => b.startedAt.localeCompare(a.startedAt))
            .map((run) => (
              <tr key={run.id}>
                <th scope="row">{hourLabel(run.startedAt)}</th>
                <td className="num">{formatCount(run.profilesReceived)}</td>
                <td className="num">{formatCount(run.identitiesActivated)}</td>
                <td className="num">{formatCount(run.identitiesExcluded)}</td>
                <td className="num">{formatCount(run.identitiesFailed)}</td>
                <td className="num">{formatRate(activationRate(run))}</td>
                <td>
                  <StatusBadge status={String(run.status)} />
                </td>
                <td>
                  <a href={formatRoute({ page: 'dataflow', id: dataflowId, tab: 'errors', runId: run.id })}>
                    Details<span className="visually-hidden"> of the run at {hourLabel(run.startedAt)}</span>
                  </a>
                </td>
              </tr>
            ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

function ErrorsTab({ dataflow, runId }: { dataflow: Dataflow; runId?: string }) {
  const [kind, setKind] = useState<'failed' | 'excluded'>('failed');
  const runs = useRuns(dataflow.id, 24 * 30);
  return (
    <QueryView query={runs} label="dataflow runs">
      {(list) => {
        const selected = runId ? list.filter((r) => r.id === runId) : list;
        const reasons = reasonTotals(selected, kind);
        const run = runId ? selected[0] : undefined;
        return (
          <>
            <p>
              {runId ? (
                run ? (
                  <>
                    Run <code>{run.id}</code> at {hourLabel(run.startedAt)} UTC ·{' '}
                    <a href={formatRoute({ page: 'dataflow', id: dataflow.id, tab: 'errors' })}>all runs</a>
                  </>
                ) : (
                  <>Run {runId} is not in the last 30 days.</>
                )
              ) : (
                'All runs of the last 30 days.'
              )}
            </p>
            {run ? (
              <dl className="summary inline">
                <dt>Received</dt>
                <dd>{formatCount(run.profilesReceived)}</dd>
                <dt>Activated</dt>
                <dd>{formatCount(run.identitiesActivated)}</dd>
                <dt>Excluded</dt>
                <dd>{formatCount(run.identitiesExcluded)}</dd>
                <dt>Failed</dt>
                <dd>{formatCount(run.identitiesFailed)}</dd>
                <dt>Status</dt>
                <dd>
                  <StatusBadge status={String(run.status)} />
                </dd>
              </dl>
            ) : null}
            <fieldset className="segmented">
              <legend className="visually-hidden">Show</legend>
              <label>
                <input
                  type="radio"
                  name="reason-kind"
                  checked={kind === 'failed'}
                  onChange={() => setKind('failed')}
                />{' '}
                Identities failed
              </label>
              <label>
                <input
                  type="radio"
                  name="reason-kind"
                  checked={kind === 'excluded'}
                  onChange={() => setKind('excluded')}
                />{' '}
                Identities excluded
              </label>
            </fieldset>
            {reasons.length === 0 ? (
              <Empty title={kind === 'failed' ? 'No failed identities' : 'No excluded identities'} />
            ) : (
              <TableScroll label={kind === 'failed' ? 'Errors' : 'Exclusion reasons'}>
                <table data-testid="reasons-table">
                  <caption className="visually-hidden">
                    {kind === 'failed' ? 'Errors' : 'Exclusion reasons'}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Code</th>
                      <th scope="col" className="num">
                        Identities
                      </th>
                      <th scope="col">Description</th>
                    </tr>
                  </thead>
                  <tbody>
                    {reasons.map((r) => (
                      <tr key={r.code}>
                        <th scope="row">
                          <code>{r.code}</code>
                        </th>
                        <td className="num">{formatCount(r.count)}</td>
                        <td>{r.description}</td>
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
  );
}

function AudiencesTab({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const audiences = useQuery({
    queryKey: [session.sandbox, 'audiences', dataflow.id],
    queryFn: () => api.listAudiences({ dataflowId: dataflow.id }),
    refetchInterval: LIVE_MS,
  });
  const activate = useMutation({
    mutationFn: (audience: Audience) => api.activateNow(audience.id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  const mayActivate = session.permissions.includes('Activate Destinations');
  return (
    <QueryView query={audiences} label="audiences">
      {(list) => {
        const mine = list.filter((a: Audience) => !a.dataflowId || a.dataflowId === dataflow.id);
        return mine.length === 0 ? (
          <Empty title="No X audiences yet">The first delivery creates one X audience per segment.</Empty>
        ) : (
          <>
            {activate.isError ? (
              <ErrorMessage error={activate.error} title="Activate now was refused" />
            ) : null}
            {activate.isSuccess ? (
              <p className="callout callout-ok" role="status">
                {formatCount(activate.data.queued)} members of {activate.variables.name} will be sent to X
                again with the delivery that starts now. Activate now is available again after{' '}
                {new Date(activate.data.nextAllowedAt).toLocaleString()}.
              </p>
            ) : null}
            <TableScroll label="X audiences of this dataflow">
              <table data-testid="audiences-table">
                <caption className="visually-hidden">X audiences of this dataflow</caption>
                <thead>
                  <tr>
                    <th scope="col">Audience</th>
                    <th scope="col">X audience id</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                    <th scope="col">Targetable</th>
                    <th scope="col">Last delivery</th>
                    <th scope="col" className="num">
                      Pending adds
                    </th>
                    <th scope="col" className="num">
                      Pending removes
                    </th>
                    <th scope="col">Next delivery</th>
                    {mayActivate ? (
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    ) : null}
                  </tr>
                </thead>
                <tbody>
                  {mine.map((a) => (
                    <tr key={a.id} data-audience={a.name}>
                      <th scope="row">
                        {a.name} {a.status ? <StatusBadge status={a.status} /> : null}
                      </th>
                      <td>
                        {a.xAudienceId ? (
                          <code data-testid="x-audience-id">{a.xAudienceId}</code>
                        ) : (
                          <span className="muted">not created yet</span>
                        )}
                      </td>
                      <td className="num" data-testid="audience-size">
                        {a.size === null ? (
                          <span title="X reports no size until processing finishes">—</span>
                        ) : (
                          formatCount(a.size)
                        )}
                      </td>
                      <td data-testid="targetable">
                        {a.targetable === null ? '—' : a.targetable ? 'Yes' : 'No'}
                        {a.reasonsNotTargetable.length ? (
                          <span className="small">
                            : {a.reasonsNotTargetable.map(describeTargetability).join('; ')}
                          </span>
                        ) : null}
                      </td>
                      <td
                        className="small"
                        data-testid="last-delivery"
                        title={a.lastDeliveryAt ? new Date(a.lastDeliveryAt).toLocaleString() : undefined}
                      >
                        {a.lastDeliveryAt ? formatAge(a.lastDeliveryAt, Date.now()) : 'never'}
                      </td>
                      <td className="num" data-testid="pending-adds">
                        {formatCount(a.pendingAdds)}
                      </td>
                      <td className="num" data-testid="pending-removes">
                        {formatCount(a.pendingRemoves)}
                      </td>
                      <NextDeliveryCell waiting={a} />
                      {mayActivate ? (
                        <td>
                          <button
                            type="button"
                            className="secondary small"
                            title="Send every member to X again (once per 24 hours), e.g. after members were removed in X"
                            disabled={activate.isPending || a.status !== 'active'}
                            onClick={() => activate.mutate(a)}
                          >
                            Activate now<span className="visually-hidden"> {a.name}</span>
                          </button>
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          </>
        );
      }}
    </QueryView>
  );
}

function describeTargetability(reason: string): string {
  switch (reason) {
    case 'PROCESSING':
      return 'PROCESSING (X is matching the list; sizes update every few hours)';
    case 'TOO_SMALL':
      return 'TOO_SMALL (fewer than 100 matched users active in the last 90 days)';
    default:
      return reason;
  }
}

/** A segment's name by its id (the id itself until the sandbox's segments have loaded, or for an unknown one). */
function useSegmentName(): (id: string) => string {
  const { api, session } = useApp();
  const segments = useQuery({ queryKey: [session.sandbox, 'segments'], queryFn: () => api.listSegments() });
  return (id) => segments.data?.find((s: Segment) => s.id === id)?.name ?? id;
}

const FORMAT_LABEL: Record<FileFormat, string> = {
  csv: 'CSV (profile_key, identity and segment:<id> columns)',
  parquet: 'Parquet (the CSV columns; read in this browser and sent as CSV)',
  ndjson: 'NDJSON (one AEP profile export per line)',
  json: 'JSON array of AEP profile exports',
};

/**
 * The key an upload of `files` goes under: the same files picked again resume (or replay) the same import. One file
 * keeps the key it has always had; several are named by their count, total size, newest change and first name.
 */
function importKeyOf(files: readonly File[]): string {
  const [first] = files;
  if (files.length === 1) return `console:${first!.size}:${first!.lastModified}:${first!.name}`.slice(0, 200);
  const size = files.reduce((sum, f) => sum + f.size, 0);
  const newest = Math.max(...files.map((f) => f.lastModified));
  return `console:${files.length} files:${size}:${newest}:${first!.name}`.slice(0, 200);
}

const IMPORT_STATUS_LABEL: Record<ImportRecord['status'], string> = {
  running: 'Running',
  interrupted: 'Interrupted',
  failed: 'Stopped by an error',
  complete: 'Complete',
};

/** The format a URL's path names, or null when it names none (or is no URL yet). */
function urlFormat(raw: string): FileFormat | null {
  try {
    return namedFileFormat(new URL(raw).pathname);
  } catch {
    return null;
  }
}

/**
 * Uploads a file of profiles to the sandbox (streamed by the browser), or has the service read one from a URL, and
 * shows the import's report.
 */
function ImportTab({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  // How far the upload got (the service writes as it reads, so this is how far the import got too).
  const [sent, setSent] = useState<{ bytes: number; total: number } | null>(null);
  // The file picked, or the parts of one export (imported as one file).
  const [files, setFiles] = useState<File[]>([]);
  const file = files[0] ?? null;
  const [format, setFormat] = useState<FileFormat>('csv');
  const [mode, setMode] = useState<'incremental' | 'mirror'>('incremental');
  const [segmentId, setSegmentId] = useState(dataflow.audiences[0]?.segmentId ?? '');
  const [keyNamespace, setKeyNamespace] = useState('CRMID');
  const maxRejected = usePercent('5');
  const maxRemoved = usePercent('90');
  // An unfinished import picked in the list: the next upload goes under its key, with its options.
  const [resuming, setResuming] = useState<ImportRecord | null>(null);
  // Set by "Import it again": a completed file goes under a new key.
  const [again, setAgain] = useState<string | null>(null);
  const recent = useQuery({
    queryKey: [session.sandbox, 'imports'],
    queryFn: () => api.imports(10),
    refetchInterval: LIVE_MS,
  });
  // A file on this computer, or one the service reads from a URL (when it may read any origin).
  const settings = useQuery({ queryKey: ['settings'], queryFn: () => api.settings(), staleTime: Infinity });
  const urlOrigins = settings.data?.importUrls?.origins ?? [];
  const [source, setSource] = useState<'file' | 'url'>('file');
  const [url, setUrl] = useState('');
  const fromUrl = useMutation({
    mutationFn: ({ target, query, key }: { target: string; query: UrlImportQuery; key?: string }) =>
      api.importUrl(target, { ...query, ...(key !== undefined ? { key } : {}) }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  const upload = useMutation({
    mutationFn: async ({
      picked,
      query,
      key,
      as,
    }: {
      picked: File[];
      query: ImportQuery;
      key: string;
      as: FileFormat;
    }) => {
      setSent(null);
      return api.importFile(await importBlob(picked, as), query, key, (bytes, total) =>
        setSent({ bytes, total }),
      );
    },
    // Once an import completes there is nothing left to resume.
    onSuccess: () => setResuming(null),
    onSettled: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  const segmentName = useSegmentName();
  // Parquet goes as the CSV it reads as.
  const csvColumns = format === 'csv' || format === 'parquet';
  const query: ImportQuery = {
    format: format === 'parquet' ? 'csv' : format,
    mode,
    ...(mode === 'mirror' ? { segmentId } : {}),
    ...(mode === 'mirror' && maxRejected.ok && maxRejected.value !== 5
      ? { maxRejectedPercent: maxRejected.value }
      : {}),
    ...(mode === 'mirror' && maxRemoved.ok && maxRemoved.value !== 90
      ? { maxRemovedPercent: maxRemoved.value }
      : {}),
    ...(csvColumns && keyNamespace.trim() !== '' ? { keyNamespace: keyNamespace.trim() } : {}),
  };
  // From a URL, the service reads a Parquet file itself (by byte ranges); an upload sends it as the CSV it reads as.
  const urlQuery: UrlImportQuery = { ...query, format };
  const keyFor = (picked: File[]) => resuming?.key ?? again ?? importKeyOf(picked);
  // The files' extensions name one format, or the user picks it (a mix is refused before anything is sent).
  const pickedFormats = new Set(files.map((f) => fileFormatOf(f.name)));
  const report = source === 'url' ? fromUrl.data : upload.data;
  // While the service reads a URL, the import it runs (the newest running one) shows how far it got.
  const reading = fromUrl.isPending ? recent.data?.find((i) => i.status === 'running') : undefined;
  // After a failed upload, where its import stands (what a resume will skip): only one that wrote rows has any.
  const failedKey = upload.isError ? upload.variables?.key : undefined;
  const stopped = recent.data?.find((i) => i.key === failedKey && canResume(i));
  const resumeFrom = (record: ImportRecord) => {
    // Parquet files imported on the service's machine resume there (the list offers no Resume for them).
    if (record.format === 'parquet') return;
    setResuming(record);
    setAgain(null);
    setFormat(record.format);
    setMode(record.mode);
    if (record.segmentId !== null) setSegmentId(record.segmentId);
    setKeyNamespace(record.keyNamespace);
    upload.reset();
  };

  return (
    <form
      className="settings-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (source === 'url') {
          if (url.trim() !== '') fromUrl.mutate({ target: url.trim(), query: urlQuery });
        } else if (files.length > 0) upload.mutate({ picked: files, query, key: keyFor(files), as: format });
      }}
    >
      <p className="muted">
        Loads a file into this sandbox: its profiles feed every dataflow whose segments they name, this one
        included. The file streams to the service, which hashes identifiers as they arrive and never stores
        them raw. Delivery to X follows on this dataflow&apos;s schedule, or now with Deliver now. An upload
        that stops midway resumes where it stopped when the same file is imported again.
      </p>
      {resuming ? (
        <p className="callout" role="status" data-testid="import-resuming">
          Resuming import {resuming.key}: choose the same file. Its first{' '}
          {formatCount(resuming.rowsCommitted)} rows are already written; they are checked against the file
          and skipped.{' '}
          <button type="button" className="link-button" onClick={() => setResuming(null)}>
            Start a new import instead
          </button>
        </p>
      ) : null}
      {urlOrigins.length > 0 ? (
        <fieldset className="choice">
          <legend>Source</legend>
          <label>
            <input
              type="radio"
              name="import-source"
              checked={source === 'file'}
              onChange={() => setSource('file')}
            />{' '}
            A file on this computer
          </label>
          <label>
            <input
              type="radio"
              name="import-source"
              checked={source === 'url'}
              onChange={() => setSource('url')}
            />{' '}
            From a URL: the service reads it (a presigned object-store link)
          </label>
        </fieldset>
      ) : null}
      {source === 'url' ? (
        <Field
          label="File URL"
          hint={`A presigned S3 URL, a signed Cloud Storage URL or an Azure SAS URL, on ${urlOrigins.join(', ')}. Its signature is never stored or shown; importing the same object again resumes or reports it.`}
        >
          {(props) => (
            <input
              {...props}
              type="url"
              placeholder="https://exports.s3.amazonaws.com/vip.csv.gz?X-Amz-Signature=…"
              value={url}
              onChange={(e) => {
                setUrl(e.target.value);
                const named = urlFormat(e.target.value.trim());
                if (named !== null) setFormat(named);
                fromUrl.reset();
              }}
            />
          )}
        </Field>
      ) : null}
      {source === 'file' ? (
        <Field label="File" hint="Pick the parts of an export together to import them as one file.">
          {(props) => (
            <input
              {...props}
              type="file"
              multiple
              accept=".csv,.ndjson,.jsonl,.json,.gz,.parquet,text/csv,application/json,application/gzip"
              onChange={(e) => {
                const list = [...(e.target.files ?? [])];
                const picked = list[0] ?? null;
                setFiles(list);
                setAgain(null);
                // A Parquet file resumes a CSV import: it is sent as the CSV it reads as.
                if (picked && (!resuming || fileFormatOf(picked.name) === 'parquet'))
                  setFormat(fileFormatOf(picked.name));
                upload.reset();
              }}
            />
          )}
        </Field>
      ) : null}
      <Field label="Format">
        {(props) => (
          <select {...props} value={format} onChange={(e) => setFormat(e.target.value as FileFormat)}>
            {(Object.keys(FORMAT_LABEL) as FileFormat[]).map((f) => (
              <option key={f} value={f}>
                {FORMAT_LABEL[f]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <fieldset className="choice">
        <legend>Mode</legend>
        <label>
          <input
            type="radio"
            name="import-mode"
            checked={mode === 'incremental'}
            onChange={() => setMode('incremental')}
          />{' '}
          Incremental: add and update what the file states
        </label>
        <label>
          <input
            type="radio"
            name="import-mode"
            checked={mode === 'mirror'}
            onChange={() => setMode('mirror')}
          />{' '}
          Mirror: the file is the whole segment (its members absent from the file leave it)
        </label>
      </fieldset>
      {mode === 'mirror' ? (
        <>
          <Field label="Segment the file holds in full">
            {(props) => (
              <select {...props} value={segmentId} onChange={(e) => setSegmentId(e.target.value)}>
                {dataflow.audiences.map((a) => (
                  <option key={a.segmentId} value={a.segmentId}>
                    {segmentName(a.segmentId)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <PercentField
            label="Rejected rows allowed (%)"
            hint="Members absent from the file are removed only when at most this share of its rows is rejected: a rejected row may be a member."
            percent={maxRejected}
          />
          <PercentField
            label="Members removed at most (%)"
            hint="Members absent from the file are removed only when they are at most this share of the segment's known members: a file listing a few of many is more often an export cut short than a segment that emptied."
            percent={maxRemoved}
          />
        </>
      ) : null}
      {csvColumns ? (
        <Field
          label="Identity namespace of profile_key"
          hint="Use the namespace your other sources key profiles by (ECID, say), so the same people are the same profiles."
        >
          {(props) => (
            <input {...props} value={keyNamespace} onChange={(e) => setKeyNamespace(e.target.value)} />
          )}
        </Field>
      ) : null}
      {reading ? (
        <p className="muted" data-testid="import-url-progress">
          Reading the file from the URL: {formatCount(reading.rowsCommitted)} rows written so far
        </p>
      ) : null}
      {upload.isPending && sent !== null ? (
        <p className="muted" data-testid="import-progress">
          <progress value={sent.bytes} max={Math.max(1, sent.total)} /> {formatMegabytes(sent.bytes)} of{' '}
          {formatMegabytes(sent.total)} sent
        </p>
      ) : null}
      {pickedFormats.size > 1 ? (
        <p className="callout callout-error" role="alert">
          The files are of different formats ({[...pickedFormats].join(', ')}): import them one format at a
          time.
        </p>
      ) : null}
      <div className="actions">
        <button
          type="submit"
          disabled={
            (source === 'url' ? url.trim() === '' || fromUrl.isPending : !file || pickedFormats.size > 1) ||
            upload.isPending ||
            (mode === 'mirror' && (segmentId === '' || !maxRejected.ok || !maxRemoved.ok))
          }
        >
          {upload.isPending || fromUrl.isPending ? 'Importing…' : resuming ? 'Resume import' : 'Import'}
        </button>
      </div>
      {source === 'url' && fromUrl.isError ? (
        <ErrorMessage error={fromUrl.error} title="The file was not imported" />
      ) : null}
      {source === 'file' && upload.isError ? (
        <>
          <ErrorMessage error={upload.error} title="The file was not imported" />
          {file && upload.variables && (stopped || isCutOff(upload.error)) ? (
            <p className="callout" role="status" data-testid="import-stopped">
              {stopped
                ? `${formatCount(stopped.rowsCommitted)} rows were written before the upload stopped. `
                : 'The upload stopped. '}
              Resuming skips the rows written and imports the rest.{' '}
              <button type="button" onClick={() => upload.variables && upload.mutate(upload.variables)}>
                Resume
              </button>
            </p>
          ) : null}
        </>
      ) : null}
      {report ? (
        <section aria-labelledby="import-report-title">
          <h2 id="import-report-title">Import report</h2>
          <p className="small muted" data-testid="import-key">
            Import key <code>{report.key}</code> (<code>tca imports show {report.key}</code>)
          </p>
          {report.replayed ? (
            <p className="callout" role="status" data-testid="import-replayed">
              This file was imported before (import {report.key}): this is its report, and nothing was read
              again.{' '}
              <button
                type="button"
                onClick={() => {
                  const key = `${report.key.slice(0, 180)}:again:${Date.now()}`;
                  if (source === 'url') {
                    fromUrl.mutate({ target: url.trim(), query: urlQuery, key });
                    return;
                  }
                  setAgain(key);
                  setResuming(null);
                  if (files.length > 0) upload.mutate({ picked: files, query, key, as: format });
                }}
              >
                Import it again
              </button>
            </p>
          ) : report.attempts > 1 ? (
            <p className="muted" data-testid="import-attempts">
              Resumed: the import took {report.attempts} attempts; the report counts the whole file.
            </p>
          ) : null}
          <div className="metrics">
            <Metric label="Rows read" value={formatCount(report.rowsRead)} testId="import-rows" />
            <Metric label="Accepted" value={formatCount(report.accepted)} testId="import-accepted" />
            <Metric label="Rejected" value={formatCount(report.rejectedCount)} testId="import-rejected" />
            {report.mode === 'mirror' ? (
              <Metric label="Removed (absent)" value={formatCount(report.removed)} testId="import-removed" />
            ) : null}
          </div>
          {report.removalSkipped ? (
            <p className="callout callout-error" data-testid="import-removal-skipped">
              Nobody was removed: {report.removalSkipped}.
            </p>
          ) : null}
          {report.warnings.map((w) => (
            <p key={w.code} className="callout" role="note" data-testid="import-warning">
              {w.message}.
            </p>
          ))}
          {report.truncated ? (
            <p className="callout callout-error">
              The file was not read to its end (a syntax error, or a last line cut off as by a download that
              stopped short){report.mode === 'mirror' ? ', so nobody was removed' : ''}. Fix the line listed
              below, or send the whole file, and import it again.
            </p>
          ) : null}
          {Object.keys(report.excluded).length > 0 ? (
            <p>
              Excluded:{' '}
              {Object.entries(report.excluded)
                .map(([reason, n]) => `${reason} ${formatCount(n)}`)
                .join(', ')}
            </p>
          ) : null}
          {report.rejected.length > 0 ? (
            <TableScroll label="Rejected rows">
              <table>
                <caption>Rejected rows (first {report.rejected.length})</caption>
                <thead>
                  <tr>
                    <th scope="col" className="num">
                      Line
                    </th>
                    <th scope="col">Problem</th>
                  </tr>
                </thead>
                <tbody>
                  {report.rejected.slice(0, 100).map((r) => (
                    <tr key={r.line}>
                      <th scope="row" className="num">
                        {r.line}
                      </th>
                      <td>{r.errors.map((e) => `${e.path}: ${e.reason}`).join('; ')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          ) : null}
        </section>
      ) : null}
      <RecentImports query={recent} onResume={resumeFrom} />
    </form>
  );
}

/** Bytes as megabytes with one decimal (`12.3 MB`). */
/** A percentage typed in a field: its text, and whether it is one from 0 to 100. */
function usePercent(initial: string) {
  const [text, setText] = useState(initial);
  const value = Number(text);
  return { text, setText, value, ok: text.trim() !== '' && value >= 0 && value <= 100 };
}

function PercentField({
  label,
  hint,
  percent,
}: {
  label: string;
  hint: string;
  percent: ReturnType<typeof usePercent>;
}) {
  return (
    <Field label={label} hint={hint} {...(!percent.ok ? { error: 'A percentage from 0 to 100.' } : {})}>
      {(props) => (
        <input
          {...props}
          type="number"
          min={0}
          max={100}
          step="any"
          value={percent.text}
          onChange={(e) => percent.setText(e.target.value)}
        />
      )}
    </Field>
  );
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toLocaleString(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MB`;
}

/** Whether an import failed because the upload stopped (the network, or the service answering so). */
function isCutOff(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === 'network' || code === 'upload_incomplete';
}

/** The sandbox's latest imports; one that stopped after writing rows can be resumed with the same file. */
function RecentImports({
  query,
  onResume,
}: {
  query: UseQueryResult<ImportRecord[]>;
  onResume: (record: ImportRecord) => void;
}) {
  if (!query.data || query.data.length === 0) return null;
  return (
    <TableScroll label="Recent imports">
      <table data-testid="recent-imports">
        <caption>Recent imports</caption>
        <thead>
          <tr>
            <th scope="col">Import</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Rows written
            </th>
            <th scope="col" className="num">
              Accepted
            </th>
            <th scope="col" className="num">
              Rejected
            </th>
            <th scope="col">Last write</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {query.data.map((i) => (
            <tr key={i.key}>
              <th scope="row">
                {i.key}
                <span className="muted">
                  {' '}
                  ({i.format}, {i.mode})
                </span>
              </th>
              <td title={i.error ?? undefined}>{IMPORT_STATUS_LABEL[i.status]}</td>
              <td className="num">{formatCount(i.rowsCommitted)}</td>
              <td className="num">{formatCount(i.report.accepted)}</td>
              <td className="num">{formatCount(i.report.rejectedCount)}</td>
              <td>{new Date(i.updatedAt).toLocaleString()}</td>
              <td>
                {!canResume(i) ? (
                  i.status === 'interrupted' || i.status === 'failed' ? (
                    <span className="muted">Nothing to resume: no row was written</span>
                  ) : null
                ) : i.format === 'parquet' ? (
                  <span className="muted">Resume with tca import --local</span>
                ) : (
                  <button type="button" className="secondary" onClick={() => onResume(i)}>
                    Resume…
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

/** The dataflow's alerts: those firing now and those resolved in the last 30 days, with who acknowledged them. */
function AlertsTab({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const alerts = useQuery({
    queryKey: [session.sandbox, 'alerts', 'dataflow', dataflow.id],
    queryFn: () => api.listAlerts({ dataflowId: dataflow.id }),
    refetchInterval: 30_000,
  });
  return (
    <>
      <NoDataAlert dataflow={dataflow} key={`${dataflow.id}:${dataflow.noDataAlertHours}`} />
      <AlertList query={alerts} />
    </>
  );
}

/**
 * How long the dataflow may go without profiles before `dataflow_no_data` fires: a source that stopped sending (the
 * AEP dataflow, a scheduled import) leaves no other trace.
 */
function NoDataAlert({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const [hours, setHours] = useState(
    dataflow.noDataAlertHours === null ? '' : String(dataflow.noDataAlertHours),
  );
  const value = hours.trim() === '' ? null : Number(hours);
  const invalid = value !== null && (!Number.isInteger(value) || value < 1 || value > 720);
  const save = useMutation({
    mutationFn: () => api.updateDataflow(dataflow.id, { noDataAlertHours: value }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox, 'dataflow', dataflow.id] }),
  });
  return (
    <form
      className="card inline-add"
      onSubmit={(e) => {
        e.preventDefault();
        if (!invalid) save.mutate();
      }}
      noValidate
    >
      <Field
        label="Alert when no profiles arrive for (hours)"
        optional
        hint={
          dataflow.noDataAlertHours === null
            ? 'Empty: never. Set it a little above the longest gap the source leaves (26 for a daily export), so a source that stops sending is noticed.'
            : `An alert fires when ${dataflow.noDataAlertHours} hours pass without profiles while an audience is scheduled. Empty it to stop.`
        }
        {...(invalid ? { error: 'A whole number of hours from 1 to 720 (30 days).' } : {})}
      >
        {(props) => (
          <input
            {...props}
            type="number"
            min={1}
            max={720}
            step={1}
            value={hours}
            onChange={(e) => setHours(e.target.value)}
          />
        )}
      </Field>
      <button
        type="submit"
        className="secondary"
        disabled={invalid || save.isPending || value === dataflow.noDataAlertHours}
      >
        Save
      </button>
      {save.isError ? <ErrorMessage error={save.error} title="Could not save the alert" /> : null}
    </form>
  );
}

function AlertList({ query: alerts }: { query: UseQueryResult<Alert[]> }) {
  return (
    <QueryView query={alerts} label="alerts">
      {(list) =>
        list.length === 0 ? (
          <Empty title="No alerts in the last 30 days">
            Alerts fire when this dataflow fails, is paused by an error, falls behind, excludes too many
            identities, has an X audience X will not target, or (when asked above) receives no profiles.
          </Empty>
        ) : (
          <TableScroll label="Alerts of this dataflow">
            <table>
              <caption className="visually-hidden">Alerts of this dataflow</caption>
              <thead>
                <tr>
                  <th scope="col">Status</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Alert</th>
                  <th scope="col">Fired</th>
                  <th scope="col">Resolved</th>
                  <th scope="col">Acknowledged</th>
                </tr>
              </thead>
              <tbody>
                {list.map((a) => (
                  <tr key={a.alertId}>
                    <td>
                      <StatusBadge status={a.status} />
                      {a.notified ? null : (
                        <span className="small" title="A silence held its notification back">
                          {' '}
                          (silenced)
                        </span>
                      )}
                    </td>
                    <td>{a.severity}</td>
                    <th scope="row">
                      {a.message}
                      <div className="small muted">
                        {a.type.replace(/_/g, ' ')} · {a.alertId}
                      </div>
                    </th>
                    <td className="small">{new Date(a.firedAt).toLocaleString()}</td>
                    <td className="small">{a.resolvedAt ? new Date(a.resolvedAt).toLocaleString() : '—'}</td>
                    <td className="small">
                      {a.acknowledgedBy === null
                        ? '—'
                        : `by ${a.acknowledgedBy}${a.acknowledgedAt ? `, ${new Date(a.acknowledgedAt).toLocaleString()}` : ''}`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )
      }
    </QueryView>
  );
}

function DeadLettersTab({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const letters = useQuery({
    queryKey: [session.sandbox, 'dead-letters', dataflow.id],
    queryFn: () => api.listDeadLetters({ dataflowId: dataflow.id }),
    refetchInterval: LIVE_MS,
  });
  const replay = useMutation({
    mutationFn: (selection: { ids: string[] } | { dataflowId: string }) => api.replayDeadLetters(selection),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  return (
    <QueryView query={letters} label="dead letters">
      {(list) => {
        const waiting = list.filter((d: DeadLetter) => d.replayedAt === null);
        return (
          <>
            <p className="muted">
              Users X refused for good (after retries), kept with the X error so they can be sent again once
              the cause is fixed. Identifiers are shown hashed only.
            </p>
            {replay.isError ? <ErrorMessage error={replay.error} title="Replay failed" /> : null}
            {replay.isSuccess ? (
              <p className="callout callout-ok" role="status">
                {replay.data.replayed} dead letter{replay.data.replayed === 1 ? '' : 's'} queued for delivery
                again.
              </p>
            ) : null}
            {list.length === 0 ? (
              <Empty title="No dead letters">Users X rejects for good would be kept here for replay.</Empty>
            ) : (
              <>
                <div className="actions">
                  <button
                    type="button"
                    className="secondary"
                    disabled={replay.isPending || waiting.length === 0}
                    onClick={() => replay.mutate({ dataflowId: dataflow.id })}
                  >
                    Replay all ({waiting.length})
                  </button>
                </div>
                <TableScroll label="Dead letters">
                  <table>
                    <caption className="visually-hidden">Dead letters</caption>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Operation</th>
                        <th scope="col">X error</th>
                        <th scope="col" className="num">
                          Identifiers
                        </th>
                        <th scope="col">
                          <span className="visually-hidden">Actions</span>
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((d) => (
                        <tr key={d.id}>
                          <th scope="row" className="small">
                            {new Date(d.createdAt).toLocaleString()}
                          </th>
                          <td>{d.operation}</td>
                          <td>{d.error}</td>
                          <td className="num">
                            {formatCount(
                              Object.values(d.user ?? {}).reduce((n, values) => n + values.length, 0),
                            )}
                          </td>
                          <td>
                            {d.replayedAt ? (
                              <span className="muted">
                                replayed {new Date(d.replayedAt).toLocaleString()}
                              </span>
                            ) : (
                              <button
                                type="button"
                                className="secondary small"
                                disabled={replay.isPending}
                                onClick={() => replay.mutate({ ids: [d.id] })}
                              >
                                Replay
                                <span className="visually-hidden">
                                  {' '}
                                  the {d.operation} of {new Date(d.createdAt).toLocaleString()}
                                </span>
                              </button>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </TableScroll>
              </>
            )}
          </>
        );
      }}
    </QueryView>
  );
}

function toDraft(schedule: Dataflow['audiences'][number]): ScheduleDraft {
  return {
    segmentId: schedule.segmentId,
    mappingName: schedule.mappingName,
    startDate: (schedule.startDate ?? '').slice(0, 10),
    endDate: (schedule.endDate ?? '').slice(0, 10),
    existingXAudienceId: schedule.existingXAudienceId ?? '',
    ttlDays: schedule.ttlDays === null || schedule.ttlDays === undefined ? '' : String(schedule.ttlDays),
    removeAtEnd: schedule.removeMembersAtEnd,
  };
}

/**
 * The schedule fields a saved segment may change. The X audience it attaches to is fixed once activated (the service
 * refuses a change), so it is left out and the service keeps it. The service keeps any setting left out, so an
 * emptied end date or TTL, or an unticked removal at the end, is sent as cleared.
 */
function scheduleToPatch(draft: ScheduleDraft): ScheduleInput {
  const { existingXAudienceId: _fixed, ...rest } = scheduleToRequest(draft);
  return { endDate: null, ttlDays: null, removeMembersAtEnd: false, ...rest };
}

/** Which X audience a saved segment uses: read-only, the service decides it on the first delivery. */
function XAudienceFacts({ audience }: { audience: Dataflow['audiences'][number] | undefined }) {
  const attached = audience?.existingXAudienceId ?? null;
  return (
    <Field
      label="X audience in use"
      hint={
        attached
          ? `Attached to the existing X audience ${attached}; fixed once activated.`
          : 'Created by this dataflow; fixed once activated.'
      }
    >
      {(props) => (
        <input
          {...props}
          type="text"
          readOnly
          data-testid="x-audience-in-use"
          value={
            audience?.xAudienceId ?? (attached ? `${attached} (on the next delivery)` : 'not created yet')
          }
        />
      )}
    </Field>
  );
}

const PLAN_ACTIONS: Record<string, string> = {
  create: 'Create the X audience',
  attach: 'Attach to the existing X audience',
  rename: 'Rename the X audience',
  delete: 'Delete the X audience',
  keep: 'Detach (keep the X audience)',
  none: 'Send membership changes',
};

function SettingsTab({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const plan = useQuery({
    queryKey: [session.sandbox, 'plan', dataflow.id],
    queryFn: () => api.planDataflow(dataflow.id),
  });
  const [name, setName] = useState(dataflow.name);
  const [mapping, setMapping] = useState<MappingRow[]>(dataflow.mapping ?? []);
  const [schedules, setSchedules] = useState<ScheduleDraft[]>(dataflow.audiences.map(toDraft));
  const [attempted, setAttempted] = useState(false);
  const save = useMutation({
    mutationFn: () =>
      api.updateDataflow(dataflow.id, {
        name: name.trim(),
        mapping,
        audiences: schedules.map(scheduleToPatch),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: [session.sandbox] }),
  });
  const nameError =
    validateDataflowName(name, { optional: false }) ??
    (save.error instanceof ApiError ? nameRefusal(save.error) : null);
  const mappingResult = validateMapping(mapping);
  const names = schedules.map((s) => s.mappingName);
  const scheduleErrors = schedules.map((s) => validateSchedule(s, names));
  const valid =
    validateDataflowName(name, { optional: false }) === null &&
    mappingResult.ok &&
    scheduleErrors.every((e) => Object.keys(e).length === 0);
  const segmentName = useSegmentName();
  const update = (index: number, patch: Partial<ScheduleDraft>) =>
    setSchedules(schedules.map((s, i) => (i === index ? { ...s, ...patch } : s)));

  return (
    <form
      className="settings-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setAttempted(true);
        if (valid) save.mutate();
      }}
    >
      <Field label="Dataflow name" {...(nameError ? { error: nameError } : {})}>
        {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <h2>Mapping</h2>
      <MappingEditor
        rows={mapping}
        onChange={setMapping}
        problems={attempted && !mappingResult.ok ? mappingResult.problems : []}
      />
      <h2>Schedule</h2>
      {schedules.map((schedule, index) => {
        const errors = attempted ? (scheduleErrors[index] ?? {}) : {};
        return (
          <fieldset key={schedule.segmentId} className="schedule">
            <legend>{segmentName(schedule.segmentId)}</legend>
            <NameInput
              label="Mapping name"
              field="mappingName"
              value={schedule.mappingName}
              onChange={(mappingName) => update(index, { mappingName })}
            />
            {errors.mappingName && validateName(schedule.mappingName, { field: 'mappingName' }).ok ? (
              <div className="error-text">{errors.mappingName}</div>
            ) : null}
            <div className="grid-4">
              <Field label="Start date" {...(errors.startDate ? { error: errors.startDate } : {})}>
                {(props) => (
                  <input
                    {...props}
                    type="date"
                    value={schedule.startDate}
                    onChange={(e) => update(index, { startDate: e.target.value })}
                  />
                )}
              </Field>
              <Field label="End date" optional {...(errors.endDate ? { error: errors.endDate } : {})}>
                {(props) => (
                  <input
                    {...props}
                    type="date"
                    value={schedule.endDate}
                    onChange={(e) => update(index, { endDate: e.target.value })}
                  />
                )}
              </Field>
              <XAudienceFacts audience={dataflow.audiences.find((a) => a.segmentId === schedule.segmentId)} />
              <Field label="TTL (days)" optional {...(errors.ttlDays ? { error: errors.ttlDays } : {})}>
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    min={1}
                    value={schedule.ttlDays}
                    onChange={(e) => update(index, { ttlDays: e.target.value })}
                  />
                )}
              </Field>
            </div>
            <RemoveAtEnd
              checked={schedule.removeAtEnd}
              error={errors.removeAtEnd}
              onChange={(removeAtEnd) => update(index, { removeAtEnd })}
            />
            <RemoveSegment
              dataflow={dataflow}
              segmentId={schedule.segmentId}
              label={segmentName(schedule.segmentId)}
              onRemoved={() => setSchedules((now) => now.filter((s) => s.segmentId !== schedule.segmentId))}
            />
          </fieldset>
        );
      })}
      <AddSegments
        dataflow={dataflow}
        onAdded={(flow) =>
          setSchedules((now) => [
            ...now,
            ...flow.audiences.filter((a) => !now.some((s) => s.segmentId === a.segmentId)).map(toDraft),
          ])
        }
      />
      {attempted && !valid ? (
        <p className="callout callout-error" role="alert">
          Fix the problems marked above before saving.
        </p>
      ) : null}
      {save.isError ? <ErrorMessage error={save.error} title="The changes were not saved" /> : null}
      {save.isSuccess ? (
        <p className="callout callout-ok" role="status">
          Saved. Changes apply from the next delivery.
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save changes'}
        </button>
      </div>
      <h2>Delivery plan</h2>
      <p className="small muted">What the next delivery would do, computed without calling X.</p>
      {plan.isPending ? (
        <Loading label="Loading the plan…" />
      ) : plan.isError ? (
        <ErrorMessage error={plan.error} title="Could not load the plan" />
      ) : !plan.data || plan.data.audiences.length === 0 ? (
        <Empty title="Nothing planned">No audience of this dataflow has work waiting.</Empty>
      ) : (
        <TableScroll label="Delivery plan">
          <table aria-label="Delivery plan">
            <thead>
              <tr>
                <th scope="col">Audience</th>
                <th scope="col">Action</th>
                <th scope="col">X audience id</th>
                <th scope="col" className="num">
                  Adds
                </th>
                <th scope="col" className="num">
                  Removes
                </th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col">Next delivery</th>
                <th scope="col">Consent policies</th>
              </tr>
            </thead>
            <tbody>
              {plan.data.audiences.map((item) => (
                <tr key={item.audienceId}>
                  <th scope="row">{item.mappingName ?? segmentName(item.segmentId)}</th>
                  <td>{PLAN_ACTIONS[item.action] ?? item.action}</td>
                  <td>{item.xAudienceId ? <code>{item.xAudienceId}</code> : '—'}</td>
                  <td className="num">{formatCount(item.pendingAdds)}</td>
                  <td className="num">{formatCount(item.pendingRemoves)}</td>
                  <td className="num">{formatCount(item.requests)}</td>
                  <NextDeliveryCell waiting={item} />
                  <td>
                    {(item.consentPolicies ?? []).length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      (item.consentPolicies ?? []).map((p) => p.name).join(', ')
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={3}>
                  Total
                </th>
                <td className="num">{formatCount(plan.data.totals.pendingAdds)}</td>
                <td className="num">{formatCount(plan.data.totals.pendingRemoves)}</td>
                <td className="num">{formatCount(plan.data.totals.requests)}</td>
                <td />
                <td />
              </tr>
            </tfoot>
          </table>
        </TableScroll>
      )}
      <DeleteDataflow dataflow={dataflow} />
    </form>
  );
}

/**
 * Activates more segments in the dataflow: the activation wizard's segment and scheduling steps, checked the same way
 * (mapping names unique across the dataflow), added with the saved schedules of the others.
 */
function AddSegments({ dataflow, onAdded }: { dataflow: Dataflow; onAdded: (flow: Dataflow) => void }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const segments = useQuery({ queryKey: [session.sandbox, 'segments'], queryFn: () => api.listSegments() });
  const [open, setOpen] = useState(false);
  const [attempted, setAttempted] = useState(false);
  const [draft, setDraft] = useState<ActivationDraft>(() => emptyDraft(dataflow.destinationId));
  const inFlow = new Set(dataflow.audiences.map((a) => a.segmentId));
  const available = (segments.data ?? []).filter((s) => !inFlow.has(s.id));
  const names = [
    ...dataflow.audiences.map((a) => a.mappingName),
    ...draft.selected.map((id) => draft.schedules[id]?.mappingName ?? ''),
  ];
  const errors: Record<string, ScheduleErrors> = {};
  for (const id of draft.selected) {
    const schedule = draft.schedules[id];
    const e = schedule ? validateSchedule(schedule, names) : { startDate: 'Schedule missing.' };
    if (Object.keys(e).length > 0) errors[id] = e;
  }
  const problem =
    draft.selected.length === 0
      ? 'Select at least one segment.'
      : Object.keys(errors).length > 0
        ? 'Fix the schedules marked above.'
        : null;
  const add = useMutation({
    mutationFn: () =>
      api.updateDataflow(dataflow.id, {
        audiences: [
          ...dataflow.audiences.map((a) => scheduleToPatch(toDraft(a))),
          ...draft.selected.flatMap((id) => {
            const schedule = draft.schedules[id];
            return schedule ? [scheduleToRequest(schedule)] : [];
          }),
        ],
      }),
    onSuccess: async (flow) => {
      onAdded(flow);
      setOpen(false);
      setAttempted(false);
      setDraft(emptyDraft(dataflow.destinationId));
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
    },
  });
  if (!open)
    return (
      <div className="actions">
        <button type="button" className="secondary" onClick={() => setOpen(true)}>
          Add segments…
        </button>
      </div>
    );
  return (
    <section className="card step" aria-labelledby="add-segments-title">
      <h3 id="add-segments-title">Add segments</h3>
      {segments.isPending ? (
        <Loading label="Loading segments…" />
      ) : segments.isError ? (
        <ErrorMessage error={segments.error} title="Could not load segments" />
      ) : (
        <>
          <SegmentsStep segments={available} draft={draft} onChange={setDraft} />
          {draft.selected.length > 0 ? (
            <SchedulingStep
              segments={available}
              draft={draft}
              onChange={setDraft}
              errors={errors}
              showAll={attempted}
            />
          ) : null}
        </>
      )}
      {attempted && problem ? (
        <p className="callout callout-error" role="alert">
          {problem}
        </p>
      ) : null}
      {add.isError ? <ErrorMessage error={add.error} title="The segments were not added" /> : null}
      <div className="actions">
        <button
          type="button"
          disabled={add.isPending}
          onClick={() => {
            setAttempted(true);
            if (problem === null) add.mutate();
          }}
        >
          {add.isPending
            ? 'Adding…'
            : `Add ${draft.selected.length} segment${draft.selected.length === 1 ? '' : 's'}`}
        </button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </section>
  );
}

/** The service's reason for refusing the dataflow name, worded for the field. */
function nameRefusal(error: ApiError): string | null {
  const reason = error.details.find((d) => d.path === 'name')?.reason;
  return reason === undefined ? null : `The service refused this name: ${reason}.`;
}

/** What happens at X to a segment's audience once it leaves the dataflow. */
function removalOutcome(
  audience: Dataflow['audiences'][number] | undefined,
  choice: AudienceRemoval,
): string {
  if (audience?.existingXAudienceId)
    return `It is attached to the existing X audience ${audience.existingXAudienceId}, which stays in X.`;
  if (!audience?.xAudienceId) return 'Its X audience was not created yet: nothing changes in X.';
  return choice === 'delete'
    ? `Its X audience ${audience.xAudienceId} is deleted from X on the next delivery.`
    : `Its X audience ${audience.xAudienceId} stays in X with its members; this service stops updating it.`;
}

/**
 * Takes one segment off the dataflow, once confirmed. The choice to delete or keep its X audience is the dataflow's
 * (`onAudienceRemoval`): the service applies it to every removal the worker has not carried out yet.
 */
function RemoveSegment({
  dataflow,
  segmentId,
  label,
  onRemoved,
}: {
  dataflow: Dataflow;
  segmentId: string;
  label: string;
  onRemoved: () => void;
}) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [choice, setChoice] = useState<AudienceRemoval>('delete');
  const audience = dataflow.audiences.find((a) => a.segmentId === segmentId);
  const remove = useMutation({
    mutationFn: () =>
      api.updateDataflow(dataflow.id, {
        // The saved schedules of the others, not their unsaved edits.
        audiences: dataflow.audiences
          .filter((a) => a.segmentId !== segmentId)
          .map((a) => scheduleToPatch(toDraft(a))),
        onAudienceRemoval: choice,
      }),
    onSuccess: async () => {
      onRemoved();
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
    },
  });
  if (dataflow.audiences.length <= 1)
    return (
      <p className="small muted">
        The only segment of this dataflow: to stop activating it, delete the dataflow (below).
      </p>
    );
  if (!confirming)
    return (
      <div className="actions">
        <button type="button" className="secondary small" onClick={() => setConfirming(true)}>
          Remove<span className="visually-hidden"> {label}</span>
        </button>
      </div>
    );
  const choosable = Boolean(audience?.xAudienceId) && !audience?.existingXAudienceId;
  return (
    <div className="callout" role="group" aria-label={`Remove ${label}`}>
      <p>
        <strong>Remove {label} from this dataflow?</strong> Its members stop being sent to X.
      </p>
      {choosable ? (
        <fieldset>
          <legend>Its X audience</legend>
          <label>
            <input
              type="radio"
              name={`removal-${segmentId}`}
              checked={choice === 'delete'}
              onChange={() => setChoice('delete')}
            />{' '}
            Delete the X audience (default)
          </label>
          <label>
            <input
              type="radio"
              name={`removal-${segmentId}`}
              checked={choice === 'keep'}
              onChange={() => setChoice('keep')}
            />{' '}
            Keep the X audience in X
          </label>
        </fieldset>
      ) : null}
      <p className="small">{removalOutcome(audience, choice)}</p>
      {remove.isError ? <ErrorMessage error={remove.error} title="The segment was not removed" /> : null}
      <div className="actions">
        <button type="button" className="danger" disabled={remove.isPending} onClick={() => remove.mutate()}>
          {remove.isPending ? 'Removing…' : `Confirm: remove ${label}`}
        </button>
        <button type="button" className="secondary" onClick={() => setConfirming(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** Deletes the dataflow once confirmed, saying what happens to its X audiences. */
function DeleteDataflow({ dataflow }: { dataflow: Dataflow }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => api.deleteDataflow(dataflow.id),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
      navigate({ page: 'dataflows' });
    },
  });
  const created = dataflow.audiences.filter((a) => a.xAudienceId && !a.existingXAudienceId).length;
  const attached = dataflow.audiences.filter((a) => a.existingXAudienceId).length;
  const fate =
    created === 0
      ? 'It created no X audience yet.'
      : dataflow.onAudienceRemoval === 'keep'
        ? `The ${created} X audience${created === 1 ? '' : 's'} it created stay in X (this dataflow keeps removed audiences).`
        : `The ${created} X audience${created === 1 ? '' : 's'} it created ${created === 1 ? 'is' : 'are'} deleted from X.`;
  return (
    <>
      <h2>Delete this dataflow</h2>
      {confirming ? (
        <div className="callout callout-error" role="group" aria-label="Delete the dataflow">
          <p>
            <strong>Delete “{dataflow.name}”?</strong> Its {dataflow.audiences.length} segment
            {dataflow.audiences.length === 1 ? ' is' : 's are'} no longer sent to X. {fate}
            {attached > 0
              ? ` The ${attached} existing X audience${attached === 1 ? '' : 's'} it was attached to stay in X.`
              : ''}
          </p>
          {remove.isError ? <ErrorMessage error={remove.error} title="The dataflow was not deleted" /> : null}
          <div className="actions">
            <button
              type="button"
              className="danger"
              disabled={remove.isPending}
              onClick={() => remove.mutate()}
            >
              {remove.isPending ? 'Deleting…' : 'Confirm: delete the dataflow'}
            </button>
            <button type="button" className="secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : (
        <div className="actions">
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Delete dataflow…
          </button>
        </div>
      )}
    </>
  );
}
