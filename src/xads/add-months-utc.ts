/**
 * Adds calendar months in UTC, clamping to the last day of the target month, as X does for its default membership
 * lifetime ("13 months from the request"): 2026-01-31 plus 13 months is 2027-02-28, not 2027-03-03.
 *
 * @example
 * addMonthsUtc(Date.UTC(2026, 0, 31), 13); // Date.UTC(2027, 1, 28)
 */
export function addMonthsUtc(ms: number, months: number): number {
  const d = new Date(ms);
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d.getTime();
}
