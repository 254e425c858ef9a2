import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import {
  ACTIVATE_STEPS,
  buildDataflowRequest,
  checkStep,
  defaultDataflowName,
  describeMapping,
  emptyDraft,
  filterSegments,
  originLabel,
  previewPlan,
  segmentEligibility,
  toggleSegment,
} from '../activation-draft.ts';
import type { ActivateStep, ActivationDraft, SegmentFilter } from '../activation-draft.ts';
import { ApiError } from '../api.ts';
import type { Destination, Segment } from '../api.ts';
import { mappingPolicyViolations, policyViolations } from '../../../src/audience/governance.ts';

/** A data-usage policy the activation would break, through a segment's labels or a mapped field's. */
interface Violation {
  key: string;
  policy: string;
  reason: string;
}
import { useApp } from '../app-context.tsx';
import { MappingEditor } from '../components/mapping-editor.tsx';
import { NameInput } from '../components/name-input.tsx';
import { SegmentSizeCell, useSegmentSizes } from '../components/segment-size.tsx';
import {
  Empty,
  ErrorMessage,
  Field,
  Loading,
  QueryView,
  RemoveAtEnd,
  StatusBadge,
  Stepper,
  TableScroll,
} from '../components/ui.tsx';
import { ConsentRule } from '../components/consent-rule.tsx';
import { formatCount } from '../run-metrics.ts';
import { formatRoute, navigate } from '../router.ts';
import { validateName } from '../validation.ts';
import type { ScheduleDraft, ScheduleErrors } from '../validation.ts';

export function ActivateWizard({ destinationId }: { destinationId?: string }) {
  const { api, session } = useApp();
  const destinations = useQuery({
    queryKey: [session.sandbox, 'destinations'],
    queryFn: () => api.listDestinations(),
  });

  return (
    <section className="page wizard" aria-labelledby="activate-title">
      <h1 id="activate-title">Activate audiences</h1>
      <QueryView query={destinations} label="connections">
        {(list) => {
          if (list.length === 0) {
            return (
              <Empty title="No connection to activate to">
                <a href={formatRoute({ page: 'connect' })}>Set up an X Custom Audiences connection</a> first.
              </Empty>
            );
          }
          const destination = list.find((d) => d.id === destinationId);
          if (!destination) return <PickDestination destinations={list} />;
          return <ActivateFlow destination={destination} key={destination.id} />;
        }}
      </QueryView>
    </section>
  );
}

function PickDestination({ destinations }: { destinations: Destination[] }) {
  const [choice, setChoice] = useState(destinations[0]?.id ?? '');
  return (
    <form
      className="card step"
      onSubmit={(e) => {
        e.preventDefault();
        if (choice) navigate({ page: 'activate', destinationId: choice });
      }}
    >
      <h2>Select destination</h2>
      <Field label="Connection">
        {(props) => (
          <select {...props} value={choice} onChange={(e) => setChoice(e.target.value)}>
            {destinations.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.accountId}) — {String(d.status)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className="actions">
        <button type="submit">Next</button>
      </div>
    </form>
  );
}

function ActivateFlow({ destination }: { destination: Destination }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const segments = useQuery({ queryKey: [session.sandbox, 'segments'], queryFn: () => api.listSegments() });
  const policies = useQuery({
    queryKey: [session.sandbox, 'data-usage-policies'],
    queryFn: () => api.dataUsagePolicies(),
  });
  const fieldLabels = useQuery({
    queryKey: [session.sandbox, 'field-labels'],
    queryFn: () => api.fieldLabels(),
  });
  const [step, setStep] = useState<ActivateStep>('segments');
  const [draft, setDraft] = useState<ActivationDraft>(() => emptyDraft(destination.id));
  const [attempted, setAttempted] = useState<Partial<Record<ActivateStep, boolean>>>({});
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), [step]);

  const finish = useMutation({
    mutationFn: () =>
      api.createDataflow(
        buildDataflowRequest(draft, defaultDataflowName(destination.name, segments.data ?? [], draft)),
      ),
    onSuccess: async (dataflow) => {
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
      navigate({ page: 'dataflow', id: dataflow.id, tab: 'runs' });
    },
  });

  const index = ACTIVATE_STEPS.findIndex((s) => s.id === step);
  const check = checkStep(draft, step);
  const showErrors = attempted[step] === true;

  const next = () => {
    setAttempted({ ...attempted, [step]: true });
    if (!check.ok) return;
    const following = ACTIVATE_STEPS[index + 1];
    if (following) setStep(following.id);
  };
  const back = () => {
    const previous = ACTIVATE_STEPS[index - 1];
    if (previous) setStep(previous.id);
  };

  if (segments.isPending) return <Loading label="Loading segments…" />;
  if (segments.isError) return <ErrorMessage error={segments.error} title="Could not load segments" />;
  const allSegments = segments.data;
  // The service refuses an activation that breaks a data-usage policy; the same rules show it before Finish.
  const custom = policies.data?.custom ?? [];
  const violations: Violation[] = [
    ...policyViolations(
      destination.marketingActions,
      allSegments
        .filter((s) => draft.selected.includes(s.id))
        .map((s) => ({ id: s.id, name: s.name, labels: s.labels ?? [] })),
      custom,
    ).map((v) => ({
      key: `${v.segmentId}:${v.label}:${v.action ?? ''}`,
      policy: v.policy,
      reason: v.reason,
    })),
    // The labels of the fields the mapping exports count too.
    ...mappingPolicyViolations(
      destination.marketingActions,
      draft.mapping,
      fieldLabels.data?.fields ?? [],
      custom,
    ).map((v) => ({
      key: `mapping:${v.index}:${v.label}:${v.action ?? ''}`,
      policy: v.policy,
      reason: v.reason,
    })),
  ];

  return (
    <>
      <p className="muted">
        Destination: <strong>{destination.name}</strong> · account <code>{destination.accountId}</code>{' '}
        <StatusBadge status={String(destination.status)} />
      </p>
      {destination.status !== 'active' ? (
        <p className="callout callout-error" role="status">
          This connection has not passed its preflight checks
          {destination.statusReason ? ` (${destination.statusReason})` : ''}. Audiences will not be delivered
          until it does:{' '}
          <a href={formatRoute({ page: 'connect', destinationId: destination.id })}>verify the connection</a>.
        </p>
      ) : null}
      <Stepper steps={ACTIVATE_STEPS} current={step} />
      <div className="card step">
        <h2 ref={headingRef} tabIndex={-1}>
          {ACTIVATE_STEPS[index]?.label}
        </h2>
        {step === 'segments' ? (
          <SegmentsStep segments={allSegments} draft={draft} onChange={setDraft} />
        ) : null}
        {step === 'mapping' ? (
          <MappingEditor
            rows={draft.mapping}
            onChange={(mapping) => setDraft({ ...draft, mapping })}
            problems={showErrors ? check.mappingProblems : []}
          />
        ) : null}
        {step === 'scheduling' ? (
          <SchedulingStep
            segments={allSegments}
            draft={draft}
            onChange={setDraft}
            errors={check.scheduleErrors}
            showAll={showErrors}
          />
        ) : null}
        {step === 'review' ? (
          <ReviewStep
            segments={allSegments}
            draft={draft}
            destination={destination}
            violations={violations}
            onChange={setDraft}
            nameError={
              check.nameError ?? (finish.error instanceof ApiError ? nameRefusal(finish.error) : null)
            }
          />
        ) : null}

        {showErrors && !check.ok ? (
          <div className="callout callout-error" role="alert">
            <ul>
              {check.messages.map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          </div>
        ) : null}
        {finish.isError ? <ErrorMessage error={finish.error} title="The dataflow was not created" /> : null}
        <div className="actions">
          <a className="button secondary" href={formatRoute({ page: 'catalog' })}>
            Cancel
          </a>
          {index > 0 ? (
            <button type="button" className="secondary" onClick={back}>
              Back
            </button>
          ) : null}
          {step === 'review' ? (
            <button
              type="button"
              disabled={finish.isPending || violations.length > 0}
              onClick={() => {
                setAttempted({ ...attempted, review: true });
                if (check.ok && violations.length === 0) finish.mutate();
              }}
            >
              {finish.isPending ? 'Creating…' : 'Finish'}
            </button>
          ) : (
            <button type="button" onClick={next}>
              Next
            </button>
          )}
        </div>
      </div>
    </>
  );
}

export function SegmentsStep({
  segments,
  draft,
  onChange,
}: {
  segments: Segment[];
  draft: ActivationDraft;
  onChange: (d: ActivationDraft) => void;
}) {
  const [filter, setFilter] = useState<SegmentFilter>({ query: '', show: 'all', origin: '' });
  const origins = useMemo(() => [...new Set(segments.map((s) => s.namespace))].sort(), [segments]);
  const visible = filterSegments(segments, filter);
  const sizes = useSegmentSizes(segments);
  if (segments.length === 0) {
    return (
      <Empty title="No segments in this sandbox">
        Create segments through the API (<code>POST /api/v1/segments</code>) or the <code>tca segments</code>{' '}
        command.
      </Empty>
    );
  }
  return (
    <>
      <div className="filters">
        <Field label="Search segments">
          {(props) => (
            <input
              {...props}
              type="search"
              value={filter.query}
              onChange={(e) => setFilter({ ...filter, query: e.target.value })}
            />
          )}
        </Field>
        <Field label="Origin">
          {(props) => (
            <select
              {...props}
              value={filter.origin}
              onChange={(e) => setFilter({ ...filter, origin: e.target.value })}
            >
              <option value="">All origins</option>
              {origins.map((o) => (
                <option key={o} value={o}>
                  {originLabel(o)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <label className="toggle">
          <input
            type="checkbox"
            checked={filter.show === 'eligible'}
            onChange={(e) => setFilter({ ...filter, show: e.target.checked ? 'eligible' : 'all' })}
          />{' '}
          Show only segments X accepts
        </label>
      </div>
      <p className="small muted" aria-live="polite">
        {draft.selected.length} selected · {visible.length} of {segments.length} shown
      </p>
      {visible.length === 0 ? (
        <Empty title="No segment matches these filters" />
      ) : (
        <TableScroll label="Segments table">
          <table>
            <caption className="visually-hidden">Segments</caption>
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">Select</span>
                </th>
                <th scope="col">Name</th>
                <th scope="col">Origin</th>
                <th scope="col">Type</th>
                <th scope="col" className="num">
                  Known members
                </th>
              </tr>
            </thead>
            <tbody>
              {visible.map((segment) => {
                const eligibility = segmentEligibility(segment);
                const id = `segment-${segment.id}`;
                return (
                  <tr key={segment.id} className={eligibility.selectable ? '' : 'disabled-row'}>
                    <td>
                      <input
                        type="checkbox"
                        id={id}
                        checked={draft.selected.includes(segment.id)}
                        disabled={!eligibility.selectable}
                        aria-describedby={eligibility.selectable ? undefined : `${id}-why`}
                        onChange={() => onChange(toggleSegment(draft, segment, new Date()))}
                      />
                    </td>
                    <td>
                      <label htmlFor={id}>{segment.name}</label>
                      {segment.description ? <div className="small muted">{segment.description}</div> : null}
                      {segment.labels && segment.labels.length > 0 ? (
                        <div className="small muted">Data-usage labels: {segment.labels.join(', ')}</div>
                      ) : null}
                      {!eligibility.selectable ? (
                        <div className="small reason" id={`${id}-why`}>
                          {eligibility.reason}
                        </div>
                      ) : null}
                    </td>
                    <td>{originLabel(segment.namespace)}</td>
                    <td>{segment.audienceType ?? 'people'}</td>
                    <SegmentSizeCell segment={segment} sizes={sizes} />
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableScroll>
      )}
    </>
  );
}

export function SchedulingStep({
  segments,
  draft,
  onChange,
  errors,
  showAll,
}: {
  segments: Segment[];
  draft: ActivationDraft;
  onChange: (d: ActivationDraft) => void;
  errors: Record<string, ScheduleErrors>;
  showAll: boolean;
}) {
  const update = (id: string, patch: Partial<ScheduleDraft>) => {
    const current = draft.schedules[id];
    if (!current) return;
    onChange({ ...draft, schedules: { ...draft.schedules, [id]: { ...current, ...patch } } });
  };
  return (
    <>
      <p className="small muted">
        Each segment becomes one X List Custom Audience named after its mapping name. Give human-readable
        names; the segment name is the default.
      </p>
      {draft.selected.map((id) => {
        const schedule = draft.schedules[id];
        const segment = segments.find((s) => s.id === id);
        if (!schedule || !segment) return null;
        const e = errors[id] ?? {};
        const show = (key: keyof ScheduleErrors) => (showAll && e[key] ? { error: e[key] } : {});
        return (
          <fieldset key={id} className="schedule" aria-label={`Schedule for ${segment.name}`}>
            <legend>{segment.name}</legend>
            <NameInput
              label="Mapping name"
              field="mappingName"
              value={schedule.mappingName}
              onChange={(mappingName) => update(id, { mappingName })}
            />
            {showAll && e.mappingName && validateName(schedule.mappingName, { field: 'mappingName' }).ok ? (
              <div className="error-text">{e.mappingName}</div>
            ) : null}
            <div className="grid-4">
              <Field label="Start date" {...show('startDate')}>
                {(props) => (
                  <input
                    {...props}
                    type="date"
                    value={schedule.startDate}
                    onChange={(ev) => update(id, { startDate: ev.target.value })}
                  />
                )}
              </Field>
              <Field label="End date" optional {...show('endDate')}>
                {(props) => (
                  <input
                    {...props}
                    type="date"
                    value={schedule.endDate}
                    min={schedule.startDate}
                    onChange={(ev) => update(id, { endDate: ev.target.value })}
                  />
                )}
              </Field>
              <Field
                label="Existing X audience id"
                optional
                hint="Leave empty to create a new audience. Set when activating; it cannot change later."
                {...show('existingXAudienceId')}
              >
                {(props) => (
                  <input
                    {...props}
                    type="text"
                    value={schedule.existingXAudienceId}
                    spellCheck={false}
                    onChange={(ev) => update(id, { existingXAudienceId: ev.target.value })}
                  />
                )}
              </Field>
              <Field
                label="TTL (days)"
                optional
                hint="Membership expires at X after this many days."
                {...show('ttlDays')}
              >
                {(props) => (
                  <input
                    {...props}
                    type="number"
                    min={1}
                    step={1}
                    value={schedule.ttlDays}
                    onChange={(ev) => update(id, { ttlDays: ev.target.value })}
                  />
                )}
              </Field>
            </div>
            <RemoveAtEnd
              checked={schedule.removeAtEnd}
              error={showAll ? e.removeAtEnd : undefined}
              onChange={(removeAtEnd) => update(id, { removeAtEnd })}
            />
          </fieldset>
        );
      })}
    </>
  );
}

/** The service's reason for refusing the dataflow name, worded for the field. */
function nameRefusal(error: ApiError): string | null {
  const reason = error.details.find((d) => d.path === 'name')?.reason;
  return reason === undefined ? null : `The service refused this name: ${reason}.`;
}

function ReviewStep({
  segments,
  draft,
  destination,
  violations,
  onChange,
  nameError,
}: {
  segments: Segment[];
  draft: ActivationDraft;
  destination: Destination;
  violations: Violation[];
  onChange: (d: ActivationDraft) => void;
  /** Checked as the name is typed; or the service's reason when it refused the name. */
  nameError: string | null;
}) {
  const plan = previewPlan(draft, segments);
  // Segment sizes are known only when the source reports them.
  const showSizes = plan.some((line) => line.estimatedMembers !== null);
  const fallbackName = defaultDataflowName(destination.name, segments, draft);
  return (
    <>
      <Field
        label="Dataflow name"
        optional
        hint={`Defaults to “${fallbackName}”.`}
        {...(nameError ? { error: nameError } : {})}
      >
        {(props) => (
          <input
            {...props}
            type="text"
            value={draft.name}
            onChange={(e) => onChange({ ...draft, name: e.target.value })}
          />
        )}
      </Field>
      <h3>Summary</h3>
      <dl className="summary">
        <dt>Destination</dt>
        <dd>
          {destination.name} (account <code>{destination.accountId}</code>)
        </dd>
        <dt>Segments</dt>
        <dd>{draft.selected.length}</dd>
        <dt>Mapping</dt>
        <dd>
          <ul>
            {describeMapping(draft.mapping).map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </dd>
      </dl>
      <h3>Dry-run plan</h3>
      <TableScroll label="Dry-run plan">
        <table aria-label="Dry-run plan">
          <thead>
            <tr>
              <th scope="col">Segment</th>
              <th scope="col">X audience</th>
              {showSizes ? (
                <th scope="col" className="num">
                  Backfill (members)
                </th>
              ) : null}
              <th scope="col">Sending window</th>
              <th scope="col">TTL</th>
            </tr>
          </thead>
          <tbody>
            {plan.map((line) => (
              <tr key={line.segmentId}>
                <th scope="row">{line.segmentName}</th>
                <td>
                  {line.action === 'create' ? (
                    <>
                      Create <q>{line.mappingName}</q>
                    </>
                  ) : (
                    <>
                      Reuse <code>{line.existingXAudienceId}</code> as <q>{line.mappingName}</q>
                    </>
                  )}
                </td>
                {showSizes ? <td className="num">{formatCount(line.estimatedMembers)}</td> : null}
                <td>{line.window}</td>
                <td>{line.ttl}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <p className="small muted">
        Current members are sent first (backfill); after that, only changes. The service&apos;s exact plan
        (requests and batches) is on the dataflow page once it exists.
      </p>
      <section className="governance" aria-labelledby="policy-title">
        <h3 id="policy-title">Data usage policy check</h3>
        {violations.length === 0 ? (
          <p className="callout" data-testid="governance-violations">
            No policy violations: no data-usage label of the segments or of the mapped fields forbids this
            destination&apos;s marketing actions
            {destination.marketingActions.length > 0 ? ` (${destination.marketingActions.join(', ')})` : ''}.
          </p>
        ) : (
          <div className="callout callout-error" role="alert" data-testid="governance-violations">
            <p>
              {violations.length === 1
                ? 'A data-usage policy forbids this activation; Finish stays off until it is fixed.'
                : `${violations.length} data-usage policy violations forbid this activation; Finish stays off until they are fixed.`}
            </p>
            <ul>
              {violations.map((v) => (
                <li key={v.key}>
                  <strong>{v.policy}</strong>: {v.reason}
                </li>
              ))}
            </ul>
          </div>
        )}
      </section>
      <ConsentPreviewSection
        destination={destination}
        segments={segments}
        segmentIds={draft.selected}
        fields={draft.mapping.map((row) => `${row.sourceType}:${row.source}`)}
      />
    </>
  );
}

/**
 * The consent policies that apply to the activation (through the destination's marketing actions, and the labels of
 * the segments and mapped fields), and how many known members of each segment they keep.
 */
function ConsentPreviewSection({
  destination,
  segments,
  segmentIds,
  fields,
}: {
  destination: Destination;
  segments: Segment[];
  segmentIds: string[];
  /** The mapped fields, as `namespace:<ns>` or `attribute:<path>`. */
  fields: string[];
}) {
  const { api, session } = useApp();
  const preview = useQuery({
    queryKey: [session.sandbox, 'consent-preview', destination.id, segmentIds, fields],
    queryFn: () => api.consentPreview(destination.id, segmentIds, fields),
    enabled: segmentIds.length > 0,
  });
  const nameOf = (id: string) => segments.find((s) => s.id === id)?.name ?? id;
  return (
    <section className="governance" aria-labelledby="consent-title">
      <h3 id="consent-title">Consent preview</h3>
      <QueryView query={preview} label="the consent preview">
        {(p) =>
          p.policies.length === 0 ? (
            <p className="callout" data-testid="consent-preview">
              No consent policy applies to this destination&apos;s marketing actions
              {destination.marketingActions.length > 0
                ? ` (${destination.marketingActions.join(', ')})`
                : ''}{' '}
              or to the labels of these segments and mapped fields: every member with a mapped identifier is
              exported.
            </p>
          ) : (
            <div data-testid="consent-preview">
              <ul>
                {p.policies.map((policy) => (
                  <li key={policy.id}>
                    <strong>{policy.name}</strong>: exported only when <ConsentRule policy={policy} />
                    {policy.enabled ? null : (
                      <span className="muted"> (switched off: it restricts nothing yet)</span>
                    )}
                  </li>
                ))}
              </ul>
              <TableScroll label="Consent preview table">
                <table aria-label="Consent preview">
                  <thead>
                    <tr>
                      <th scope="col">Segment</th>
                      <th scope="col" className="num">
                        Known members
                      </th>
                      <th scope="col" className="num">
                        Consenting
                      </th>
                      {p.policies.map((policy) => (
                        <th key={policy.id} scope="col" className="num">
                          {policy.enabled ? 'Left out by' : 'Would be left out by'} {policy.name}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {p.segments.map((s) => (
                      <tr key={s.segmentId}>
                        <th scope="row">{nameOf(s.segmentId)}</th>
                        <td className="num">{formatCount(s.profiles)}</td>
                        <td className="num">{formatCount(s.consenting)}</td>
                        {p.policies.map((policy) => {
                          // A policy on labels may apply to one segment and not to another.
                          const denied = s.denied.find((d) => d.policyId === policy.id);
                          return (
                            <td key={policy.id} className="num">
                              {denied ? (
                                formatCount(denied.profiles)
                              ) : (
                                <span className="muted" title="The policy does not apply to this segment">
                                  —
                                </span>
                              )}
                            </td>
                          );
                        })}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
              <p className="small muted">
                Counts are of the profiles this sandbox knows now; profiles that arrive later are checked as
                they come.
              </p>
            </div>
          )
        }
      </QueryView>
    </section>
  );
}
