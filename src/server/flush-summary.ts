/** `POST /dataflows/:id/flush` ("Deliver now") in a sentence: what went to X, what waits for a retry, or that it goes on in the background. */
import type { FlushResultView as FlushResult } from './backend.ts';

const count = (n: number, one: string, many = `${one}s`) =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

export function describeFlush(result: FlushResult): string {
  if (result.status === 'delivering') {
    return (
      `Delivering ${count(result.audienceIds.length, 'audience')} in the background: ` +
      "the dataflow's runs and audiences show the progress."
    );
  }
  const parts: string[] = [];
  const reports = result.audiences;
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
  const stuck = reports.filter((r) => ['retrying', 'paused', 'error'].includes(r.outcome));
  for (const r of stuck) {
    const when =
      r.outcome === 'retrying' ? 'will be retried' : r.outcome === 'paused' ? 'is paused' : 'failed';
    parts.push(`Audience ${r.audienceId} ${when}${r.message ? `: ${r.message}` : ''}.`);
  }
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
