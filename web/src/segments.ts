import type { ErrorDetail } from './api.ts';
import { formatCount } from './run-metrics.ts';

/*
 * Segment sizes and the dataflows that activate a segment, as the wizard's segment step and the Segments page show
 * them. A segment's size is its known members: the profiles this sandbox holds that are in it, counted by the
 * service's consent preview (`GET /consent-policies/preview?segmentIds=…`, whose `profiles` per segment is exactly
 * that). The service keeps the memberships of Segmentation Service (`ups`) segments only, so it cannot know the size
 * of any other.
 */

/** The only namespace whose memberships the service records (as `ACCEPTED_SEGMENT_NAMESPACE` in the engine). */
export const COUNTED_NAMESPACE = 'ups';

/** The most segment ids one consent preview counts (the service refuses more). */
export const MAX_SEGMENTS_PER_COUNT = 250;

/** The ids of the segments whose known members the service can count, in groups of at most `size`. */
export function countableSegmentIdGroups(
  segments: ReadonlyArray<{ id: string; namespace: string }>,
  size = MAX_SEGMENTS_PER_COUNT,
): string[][] {
  const ids = [...new Set(segments.filter((s) => s.namespace === COUNTED_NAMESPACE).map((s) => s.id))].sort();
  const groups: string[][] = [];
  for (let i = 0; i < ids.length; i += size) groups.push(ids.slice(i, i + size));
  return groups;
}

/** Where the count of the sandbox's segments stands. */
export type SegmentSizes =
  | { status: 'pending' }
  | { status: 'error'; message: string }
  | { status: 'ok'; members: ReadonlyMap<string, number> };

/** A size cell: the figure, and (where there is no figure, or to say what it counts) the tooltip saying why. */
export interface SizeCell {
  text: string;
  title: string;
}

/** What a segment's size cell shows. */
export function segmentSizeCell(segment: { id: string; namespace: string }, sizes: SegmentSizes): SizeCell {
  if (segment.namespace !== COUNTED_NAMESPACE)
    return {
      text: '—',
      title:
        'Not known: the service records the members of Segmentation Service (ups) segments only, the only ones X ' +
        'Custom Audiences takes',
    };
  if (sizes.status === 'pending') return { text: '…', title: 'Counting the known members…' };
  if (sizes.status === 'error')
    return { text: '—', title: `The known members could not be counted: ${sizes.message}` };
  const members = sizes.members.get(segment.id);
  if (members === undefined) return { text: '—', title: 'The service did not count this segment' };
  return {
    text: formatCount(members),
    title: 'Known members: the profiles this sandbox holds that are in the segment now',
  };
}

/** The dataflows that activate a segment (a dataflow lists only the segments it activates). */
export function activatingDataflows<D extends { audiences: ReadonlyArray<{ segmentId: string }> }>(
  segmentId: string,
  dataflows: readonly D[],
): D[] {
  return dataflows.filter((d) => d.audiences.some((a) => a.segmentId === segmentId));
}

/** A dataflow named by the service's refusal to delete a segment, or the refusal's own words when they say no more. */
export type RefusingDataflow = { id: string; name: string; status: string } | { reason: string };

/**
 * The dataflows a `409 conflict` of `DELETE /segments/:id` names, one per detail: `activated by dataflow df_1
 * ("CRM to X", paused): remove the segment from it …`.
 */
export function refusingDataflows(details: readonly ErrorDetail[]): RefusingDataflow[] {
  return details.map((d) => {
    const named = /^activated by dataflow (\S+) \("(.*)", ([a-z_]+)\)/.exec(d.reason);
    return named ? { id: named[1]!, name: named[2]!, status: named[3]! } : { reason: d.reason };
  });
}
