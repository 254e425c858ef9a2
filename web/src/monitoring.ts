/** The Dataflows page's overview: which rows to show and how to say why one needs a look and how old things are. */
import type { Attention, MonitoringRow } from './api.ts';

export const ATTENTION_LABEL: Record<Attention, string> = {
  paused: 'Paused by an error',
  identities_failed: 'Identities failed',
  alerts_firing: 'Alert firing',
  not_targetable: 'Not targetable at X',
};

/**
 * The rows to show: those whose name or destination holds every word of `search` (case-insensitive), and with
 * `attentionOnly` only those that need a look. Rows needing a look come first, then by name.
 */
export function visibleRows(
  rows: readonly MonitoringRow[],
  filter: { search: string; attentionOnly: boolean },
): MonitoringRow[] {
  const words = filter.search.toLowerCase().split(/\s+/).filter(Boolean);
  return rows
    .filter((r) => !filter.attentionOnly || r.attention.length > 0)
    .filter((r) => {
      const text = `${r.name} ${r.destinationName ?? ''} ${r.dataflowId}`.toLowerCase();
      return words.every((w) => text.includes(w));
    })
    .sort(
      (a, b) =>
        Number(b.attention.length > 0) - Number(a.attention.length > 0) || a.name.localeCompare(b.name),
    );
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
