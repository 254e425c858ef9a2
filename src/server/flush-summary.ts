/** `POST /dataflows/:id/flush` ("Deliver now") in a sentence: what went to X, what waits for a retry, or that it goes on in the background. */
import type { FlushResultView as FlushResult } from './backend.ts';

type Outcome = Extract<FlushResult, { audiences: unknown }>['audiences'][number]['outcome'];

/**
 * Outcomes of an audience whose changes did not go out: X refused the credentials or permissions (paused; also a
 * dataflow paused before the flush), failed in a way that is retried later, or failed for good. The others
 * (delivered, idle, deferred by X's cadence, removed) are what was asked.
 */
export const UNDELIVERED_OUTCOMES: readonly Outcome[] = ['retrying', 'paused', 'error'];

/**
 * The status of a flush whose deliveries finished: `delivered` only when no audience was left undelivered, so a
 * script (or `tca dataflows flush`'s exit code) tells a 401 that sent nothing from a delivery.
 */
export function finishedFlushStatus(
  audiences: ReadonlyArray<{ outcome: Outcome }>,
): 'delivered' | 'incomplete' {
  return audiences.some((a) => UNDELIVERED_OUTCOMES.includes(a.outcome)) ? 'incomplete' : 'delivered';
}

const count = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** `text` as a sentence: ends with a full stop unless it ends with one already (X's messages and ours often do). */
const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);

/** When `at` (epoch ms) comes, from `now`: `now`, `in 5 s`, `in 2 min`, `in 3 h`. */
function fromNow(at: number, now: number): string {
  const seconds = Math.ceil((at - now) / 1000);
  if (seconds <= 0) return 'now';
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.ceil(seconds / 60)} min`;
  return `in ${Math.ceil(seconds / 3600)} h`;
}

/** When an audience that did not deliver is tried again, for a report that says (`nextAttemptAt`); else empty. */
function nextAttempt(report: { nextAttemptAt?: number | null | undefined }, now: number): string {
  const at = report.nextAttemptAt;
  if (at === undefined || at === null) return '';
  return ` at ${new Date(at).toISOString()} (${fromNow(at, now)})`;
}

/** The flush in sentences; `now` (epoch ms) says how soon a next attempt comes. */
export function describeFlush(result: FlushResult, now = Date.now()): string {
  if (result.status === 'delivering') {
    return (
      `Delivering ${count(result.audienceIds.length, 'audience')} in the background: ` +
      "the dataflow's runs and audiences show the progress."
    );
  }
  const parts: string[] = [];
  const reports = result.audiences;
  const stuck = reports.filter((r) => UNDELIVERED_OUTCOMES.includes(r.outcome));
  // Said first: a partial delivery must not read as a success.
  if (stuck.length > 0) {
    parts.push(
      `Incomplete: ${stuck.length.toLocaleString('en-US')} of ${count(reports.length, 'audience')} did not deliver; ${stuck.length === 1 ? 'its' : 'their'} changes wait.`,
    );
  }
  const requests = reports.reduce((n, r) => n + r.requests, 0);
  const added = reports.reduce((n, r) => n + r.added, 0);
  const removed = reports.reduce((n, r) => n + r.removed, 0);
  const refused = reports.reduce((n, r) => n + r.deadLettered, 0);
  if (requests > 0) {
    parts.push(
      `Delivered in ${count(requests, 'request')}: ${count(added, 'identifier')} added, ${removed.toLocaleString('en-US')} removed.`,
    );
  }
  // Changes to the X audiences themselves go out without a users request: a renamed mapping name, say.
  const made = (change: string) => reports.filter((r) => r.xAudience === change).length;
  const created = made('created');
  const attached = made('attached');
  const renamed = made('renamed');
  if (created > 0) parts.push(`Created ${count(created, 'X audience')}.`);
  if (attached > 0) parts.push(`Attached ${count(attached, 'existing X audience')}.`);
  if (renamed > 0) {
    parts.push(
      `Renamed ${count(renamed, 'X audience')} to ${renamed === 1 ? 'its new mapping name' : 'their new mapping names'}.`,
    );
  }
  if (refused > 0) parts.push(`X refused ${count(refused, 'member')}: see Dead letters.`);
  for (const r of stuck) {
    const when =
      r.outcome === 'retrying'
        ? r.rateLimited
          ? `waits for X's rate limit to reset: next attempt${nextAttempt(r, now)}`
          : `will be retried${nextAttempt(r, now)}`
        : r.outcome === 'paused'
          ? 'is paused'
          : 'failed';
    parts.push(sentence(`Audience ${r.audienceId} ${when}${r.message ? `: ${r.message}` : ''}`));
  }
  if (stuck.some((r) => r.outcome === 'paused')) parts.push("The dataflow's status says what to fix.");
  if (reports.some((r) => r.outcome === 'deferred')) parts.push("Some changes wait for X's cadence window.");
  if (result.skipped.length > 0) {
    parts.push(
      `${count(result.skipped.length, 'audience')} ${result.skipped.length === 1 ? 'was' : 'were'} being delivered by another worker: ${result.skipped.length === 1 ? 'it goes' : 'they go'} out with its next pass.`,
    );
  }
  if (parts.length === 0) {
    return reports.length === 0
      ? 'Nothing to deliver: the dataflow has no audiences yet.'
      : 'Nothing was waiting: X already holds every change.';
  }
  return parts.join(' ');
}
