import { useQuery } from '@tanstack/react-query';
import type { Segment } from '../api.ts';
import { useApp } from '../app-context.tsx';
import { countableSegmentIdGroups, segmentSizeCell, type SegmentSizes } from '../segments.ts';

/**
 * The known members of the segments, counted by the service's consent preview: one pass over the sandbox's stored
 * profiles per 250 segments (the service keeps no count to read instead), so the count is kept for a minute.
 */
export function useSegmentSizes(segments: readonly Segment[]): SegmentSizes {
  const { api, session } = useApp();
  const groups = countableSegmentIdGroups(segments);
  const counts = useQuery({
    queryKey: [session.sandbox, 'segment-sizes', groups],
    queryFn: async () => {
      const members: Array<[string, number]> = [];
      for (const ids of groups)
        for (const s of (await api.consentPreview(undefined, ids)).segments)
          members.push([s.segmentId, s.profiles]);
      return members;
    },
    enabled: groups.length > 0,
    staleTime: 60_000,
  });
  if (groups.length === 0) return { status: 'ok', members: new Map() };
  if (counts.isError)
    return {
      status: 'error',
      message: counts.error instanceof Error ? counts.error.message : String(counts.error),
    };
  if (counts.data === undefined) return { status: 'pending' };
  return { status: 'ok', members: new Map(counts.data) };
}

/** A segment's size in a table row: its known members, or a dash whose tooltip says why there is no figure. */
export function SegmentSizeCell({ segment, sizes }: { segment: Segment; sizes: SegmentSizes }) {
  const cell = segmentSizeCell(segment, sizes);
  return (
    <td className="num" title={cell.title} data-testid="segment-size">
      {cell.text}
    </td>
  );
}
