/** The Dataflows page's overview: which rows to show and how to say why one needs a look and how old things are. */
import type { Attention, MonitoringRow } from './api.ts';

export const ATTENTION_LABEL: Record<Attention, string> = {
  paused: 'Paused by an error',
  identities_failed: 'Identities failed',
  alerts_firing: 'Alert firing',
  not_targetable: 'Not targetable at X',
};

/** The columns the overview can be sorted by. */
export type SortKey =
  | 'name'
  | 'profilesReceived'
  | 'identitiesActivated'
  | 'identitiesExcluded'
  | 'identitiesFailed'
  | 'activationRate'
  | 'pendingChanges'
  | 'nextDeliveryAt'
  | 'lastProfilesAt'
  | 'lastDeliveryAt'
  | 'membersAtX';

export interface Sort {
  key: SortKey;
  descending: boolean;
}

/**
 * A column's first sort: names A to Z, the next deliveries soonest first, other numbers and dates highest or latest
 * first.
 */
export const firstSort = (key: SortKey): Sort => ({
  key,
  descending: key !== 'name' && key !== 'nextDeliveryAt',
});

/** Clicking a column: its first sort, or the other way round when it is sorted by already. */
export const nextSort = (current: Sort | null, key: SortKey): Sort =>
  current?.key === key ? { key, descending: !current.descending } : firstSort(key);

function sortValue(row: MonitoringRow, key: SortKey): number | string | null {
  if (key === 'name') return row.name.toLowerCase();
  if (key === 'lastDeliveryAt' || key === 'lastProfilesAt' || key === 'nextDeliveryAt') {
    const at = row[key];
    return at === null ? null : Date.parse(at);
  }
  return row[key];
}

/**
 * The rows to show: those whose name or destination holds every word of `search` (case-insensitive), and with
 * `attentionOnly` only those that need a look. Unsorted, rows needing a look come first, then by name; sorted, by the
 * column (rows without a value last either way), then by name.
 */
export function visibleRows(
  rows: readonly MonitoringRow[],
  filter: { search: string; attentionOnly: boolean; sort?: Sort | null },
): MonitoringRow[] {
  const sort = filter.sort ?? null;
  const words = filter.search.toLowerCase().split(/\s+/).filter(Boolean);
  return rows
    .filter((r) => !filter.attentionOnly || r.attention.length > 0)
    .filter((r) => {
      const text = `${r.name} ${r.destinationName ?? ''} ${r.dataflowId}`.toLowerCase();
      return words.every((w) => text.includes(w));
    })
    .sort((a, b) => {
      const byName = a.name.localeCompare(b.name);
      if (sort === null) return Number(b.attention.length > 0) - Number(a.attention.length > 0) || byName;
      const x = sortValue(a, sort.key);
      const y = sortValue(b, sort.key);
      if (x === null || y === null) return x === y ? byName : x === null ? 1 : -1;
      const order = x < y ? -1 : x > y ? 1 : 0;
      return (sort.descending ? -order : order) || byName;
    });
}

/** How long ago `iso` was, in the largest whole unit ("just now", "5 min ago", "3 h ago", "2 d ago"); "—" for null. */
export function formatAge(iso: string | null, now: number): string {
  if (iso === null) return '—';
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return '—';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** Why an audience's waiting changes go out when they do (the `nextDeliveryReason` of an audience). */
export const NEXT_DELIVERY_REASON: Record<string, string> = {
  full_request: 'Enough changes wait to fill a request: they go at the next worker tick',
  requested: 'A delivery was asked for: it starts at the next worker tick',
  batch_window: 'When the oldest waiting change reaches the dataflow’s aggregation window',
  back_off: 'After a back-off: X asked to wait, or a failed request is retried then',
  cadence: 'X cadence mode: one push of additions and one of removals per window',
};

/**
 * When an audience's (or a dataflow's: its earliest audience's) waiting changes go out, in words ("—" when nothing
 * waits, "on hold" when its dataflow is not active, "next tick" when due, else "in 12 min", "in 3 h", "in 2 d"), and
 * why (for a tooltip).
 */
export function describeNextDelivery(
  audience: {
    pendingAdds: number;
    pendingRemoves: number;
    nextDeliveryAt?: string | null;
    nextDeliveryReason?: string | null;
  },
  now: number,
): { text: string; title: string } {
  if (audience.pendingAdds + audience.pendingRemoves === 0) return { text: '—', title: 'Nothing waits' };
  if (audience.nextDeliveryAt === undefined) return { text: '—', title: 'The service does not say' };
  const at = audience.nextDeliveryAt ? Date.parse(audience.nextDeliveryAt) : Number.NaN;
  if (Number.isNaN(at))
    return { text: 'on hold', title: 'The dataflow is not active: the changes wait until it is resumed' };
  const reason = NEXT_DELIVERY_REASON[audience.nextDeliveryReason ?? ''] ?? 'Scheduled';
  const minutes = Math.ceil((at - now) / 60_000);
  const text =
    minutes <= 0
      ? 'next tick'
      : minutes < 120
        ? `in ${minutes} min`
        : minutes < 48 * 60
          ? `in ${Math.round(minutes / 60)} h`
          : `in ${Math.round(minutes / 1440)} d`;
  return { text, title: `${reason} (${new Date(at).toLocaleString()})` };
}
