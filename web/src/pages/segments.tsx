import { useQuery } from '@tanstack/react-query';
import { originLabel } from '../activation-draft.ts';
import type { Dataflow, Segment } from '../api.ts';
import { useApp } from '../app-context.tsx';
import { SegmentSizeCell, useSegmentSizes } from '../components/segment-size.tsx';
import { ConfirmDelete } from '../components/confirm-delete.tsx';
import { Empty, QueryView, StatusBadge, TableScroll } from '../components/ui.tsx';
import { formatRoute } from '../router.ts';
import { activatingDataflows, refusingDataflows } from '../segments.ts';

/** The sandbox's segments: their known members, the dataflows that activate each, and deleting one none activates. */
export function Segments() {
  const { api, session } = useApp();
  const segments = useQuery({ queryKey: [session.sandbox, 'segments'], queryFn: () => api.listSegments() });
  const dataflows = useQuery({
    queryKey: [session.sandbox, 'dataflows'],
    queryFn: () => api.listDataflows(),
  });
  const sizes = useSegmentSizes(segments.data ?? []);

  return (
    <section className="page" aria-labelledby="segments-title">
      <h1 id="segments-title" tabIndex={-1}>
        Segments
      </h1>
      <p className="muted">
        Segments come from the customer-data platform, registered under the id its exports use (
        <code>POST /api/v1/segments</code> or <code>tca segments</code>). Known members are the profiles this
        sandbox holds in each. A segment no dataflow activates can be deleted; registered again under the same
        id, it finds its members.
      </p>
      <QueryView query={segments} label="segments">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No segments in this sandbox">
              Create segments through the API (<code>POST /api/v1/segments</code>) or the{' '}
              <code>tca segments</code> command.
            </Empty>
          ) : (
            <TableScroll label="Segments table">
              <table>
                <caption className="visually-hidden">Segments</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">ID</th>
                    <th scope="col">Origin</th>
                    <th scope="col">Description</th>
                    <th scope="col" className="num">
                      Known members
                    </th>
                    <th scope="col">Activated by</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((s) => (
                    <tr key={s.id}>
                      <th scope="row">
                        {s.name}
                        {s.labels && s.labels.length > 0 ? (
                          <div className="small muted">Data-usage labels: {s.labels.join(', ')}</div>
                        ) : null}
                      </th>
                      <td>
                        <code>{s.id}</code>
                      </td>
                      <td>
                        {originLabel(s.namespace)} <span className="muted">({s.namespace})</span>
                      </td>
                      <td className="small">{s.description || <span className="muted">—</span>}</td>
                      <SegmentSizeCell segment={s} sizes={sizes} />
                      <td className="small" data-testid="activated-by">
                        <ActivatedBy segmentId={s.id} dataflows={dataflows} />
                      </td>
                      <td>
                        <DeleteSegment segment={s} />
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

/** The dataflows that activate the segment, each linked to the tab that removes segments from it. */
function ActivatedBy({
  segmentId,
  dataflows,
}: {
  segmentId: string;
  dataflows: { data: Dataflow[] | undefined; isError: boolean; error: unknown };
}) {
  if (dataflows.isError)
    return (
      <span
        className="muted"
        title={`Could not load the dataflows: ${dataflows.error instanceof Error ? dataflows.error.message : String(dataflows.error)}`}
      >
        —
      </span>
    );
  if (dataflows.data === undefined) return <span className="muted">…</span>;
  const using = activatingDataflows(segmentId, dataflows.data);
  if (using.length === 0) return <span className="muted">No dataflow</span>;
  return (
    <ul className="plain-list">
      {using.map((d) => (
        <li key={d.id}>
          <a href={formatRoute({ page: 'dataflow', id: d.id, tab: 'settings' })}>{d.name}</a>{' '}
          <StatusBadge status={d.status} />
        </li>
      ))}
    </ul>
  );
}

/**
 * Deletes a segment once confirmed. The service refuses while a dataflow activates it (409, each such dataflow named
 * in the details): the refusal is shown in the row, naming them, with what to do.
 */
function DeleteSegment({ segment }: { segment: Segment }) {
  const { api } = useApp();
  return (
    <ConfirmDelete
      name={segment.name}
      question={
        <>
          Delete the segment “{segment.name}” (<code>{segment.id}</code>)? Its profiles keep their
          memberships: registered again under the same id, the segment finds its members.
        </>
      }
      failedTitle="The segment was not deleted"
      emptyFocusId="segments-title"
      remove={() => api.deleteSegment(segment.id)}
      refused={(error) => (
        <>
          <strong>“{segment.name}” was not deleted: dataflows activate it.</strong>
          <ul>
            {refusingDataflows(error.details).map((d, i) => (
              <li key={i}>
                {'reason' in d ? (
                  d.reason
                ) : (
                  <>
                    Activated by dataflow{' '}
                    <a href={formatRoute({ page: 'dataflow', id: d.id, tab: 'settings' })}>{d.name}</a> (
                    {d.status})
                  </>
                )}
              </li>
            ))}
          </ul>
          <p className="small">
            Remove the segment from each of them (their Mapping &amp; schedule tab) or delete them, then
            delete the segment.
          </p>
        </>
      )}
    />
  );
}
