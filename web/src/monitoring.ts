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
  | 'lastProfilesAt'
  | 'lastDeliveryAt'
  | 'membersAtX';

export interface Sort {
  key: SortKey;
  descending: boolean;
}

/** A column's first sort: names A to Z, numbers and dates highest or latest first. */
export const firstSort = (key: SortKey): Sort => ({ key, descending: key !== 'name' });

/** Clicking a column: its first sort, or the other way round when it is sorted by already. */
export const nextSort = (current: Sort | null, key: SortKey): Sort =>
  current?.key === key ? { key, descending: !current.descending } : firstSort(key);

function sortValue(row: MonitoringRow, key: SortKey): number | string | null {
  if (key === 'name') return row.name.toLowerCase();
  if (key === 'lastDeliveryAt' || key === 'lastProfilesAt') {
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
