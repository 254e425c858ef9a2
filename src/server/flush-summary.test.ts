import { describe, expect, it } from 'vitest';
import type { FlushResultView as FlushResult } from './backend.ts';
import { describeFlush, finishedFlushStatus } from './flush-summary.ts';

type Report = Extract<FlushResult, { status: 'delivered' }>['audiences'][number];
const report = (patch: Partial<Report>): Report => ({
  audienceId: 'da_1',
  dataflowId: 'df_1',
  outcome: 'delivered',
  requests: 0,
  added: 0,
  removed: 0,
  deadLettered: 0,
  ...patch,
});
const delivered = (audiences: Report[], skipped: string[] = []): FlushResult => ({
  dataflowId: 'df_1',
  status: 'delivered',
  audiences,
  skipped,
});
const incomplete = (audiences: Report[], skipped: string[] = []): FlushResult => ({
  dataflowId: 'df_1',
  status: 'incomplete',
  audiences,
  skipped,
});

describe('describeFlush', () => {
  it('sums what went to X over the audiences', () => {
    const text = describeFlush(
      delivered([report({ requests: 2, added: 1200, removed: 3 }), report({ requests: 1, added: 5 })]),
    );
    expect(text).toBe('Delivered in 3 requests: 1,205 identifiers added, 3 removed.');
  });

  it('names what X refused, what waits for a retry, and what another worker holds', () => {
    const text = describeFlush(
      incomplete(
        [
          report({ requests: 1, added: 1, deadLettered: 2 }),
          report({ audienceId: 'da_2', outcome: 'retrying', message: 'X answered 503' }),
        ],
        ['da_3'],
      ),
    );
    expect(text).toBe(
      'Incomplete: 1 of 2 audiences did not deliver; its changes wait. ' +
        'Delivered in 1 request: 1 identifier added, 0 removed. X refused 2 members: see Dead letters. ' +
        'Audience da_2 will be retried: X answered 503. ' +
        '1 audience was being delivered by another worker: it goes out with its next pass.',
    );
  });

  it('says when an audience that did not deliver is tried again, and why when X rate-limits it', () => {
    const now = Date.UTC(2026, 5, 1, 12);
    const text = describeFlush(
      incomplete([
        report({
          outcome: 'retrying',
          message: 'X Ads API returned HTTP 503',
          nextAttemptAt: now + 60_000,
        }),
        report({
          audienceId: 'da_2',
          outcome: 'retrying',
          rateLimited: true,
          message: 'X Ads API returned HTTP 429: TOO_MANY_REQUESTS',
          nextAttemptAt: now + 4_200,
        }),
      ]),
      now,
    );
    expect(text).toBe(
      'Incomplete: 2 of 2 audiences did not deliver; their changes wait. ' +
        'Audience da_1 will be retried at 2026-06-01T12:01:00.000Z (in 1 min): X Ads API returned HTTP 503. ' +
        "Audience da_2 waits for X's rate limit to reset: next attempt at 2026-06-01T12:00:04.200Z (in 5 s): " +
        'X Ads API returned HTTP 429: TOO_MANY_REQUESTS.',
    );
  });

  it('ends each sentence with one full stop, also after a message that has its own', () => {
    const failed = report({
      outcome: 'error',
      message: 'X refused to create the audience: bad name. Fix the cause, then resume the dataflow.',
    });
    expect(describeFlush(incomplete([failed]))).toBe(
      'Incomplete: 1 of 1 audience did not deliver; its changes wait. ' +
        'Audience da_1 failed: X refused to create the audience: bad name. Fix the cause, then resume the dataflow.',
    );
  });

  it('leads with what was not delivered when X refused the credentials, and where the fix is', () => {
    const paused = report({
      outcome: 'paused',
      message: 'X Ads API returned HTTP 401 (POST /12/accounts/a/custom_audiences/x/users)',
    });
    expect(describeFlush(incomplete([paused, report({ audienceId: 'da_2', outcome: 'idle' })]))).toBe(
      'Incomplete: 1 of 2 audiences did not deliver; its changes wait. ' +
        'Audience da_1 is paused: X Ads API returned HTTP 401 (POST /12/accounts/a/custom_audiences/x/users). ' +
        "The dataflow's status says what to fix.",
    );
  });

  it('reports the changes made to the X audiences themselves, which send no users request', () => {
    expect(describeFlush(delivered([report({ xAudience: 'renamed' })]))).toBe(
      'Renamed 1 X audience to its new mapping name.',
    );
    expect(
      describeFlush(
        delivered([
          report({ xAudience: 'created', requests: 1, added: 2 }),
          report({ audienceId: 'da_2', xAudience: 'attached' }),
          report({ audienceId: 'da_3', xAudience: 'renamed' }),
          report({ audienceId: 'da_4', xAudience: 'renamed' }),
        ]),
      ),
    ).toBe(
      'Delivered in 1 request: 2 identifiers added, 0 removed. Created 1 X audience. ' +
        'Attached 1 existing X audience. Renamed 2 X audiences to their new mapping names.',
    );
  });

  it('tells nothing waiting apart from no audiences', () => {
    expect(describeFlush(delivered([report({ outcome: 'idle' })]))).toBe(
      'Nothing was waiting: X already holds every change.',
    );
    expect(describeFlush(delivered([]))).toBe('Nothing to deliver: the dataflow has no audiences yet.');
  });

  it('says when the deliveries go on in the background', () => {
    expect(describeFlush({ dataflowId: 'df_1', status: 'delivering', audienceIds: ['a', 'b'] })).toBe(
      "Delivering 2 audiences in the background: the dataflow's runs and audiences show the progress.",
    );
  });
});

describe('finishedFlushStatus', () => {
  it('is delivered only when every audience delivered or had nothing to deliver', () => {
    for (const outcome of ['delivered', 'idle', 'deferred', 'removed'] as const)
      expect(finishedFlushStatus([report({}), report({ outcome })]), outcome).toBe('delivered');
    expect(finishedFlushStatus([])).toBe('delivered');
    for (const outcome of ['paused', 'retrying', 'error'] as const)
      expect(finishedFlushStatus([report({}), report({ outcome })]), outcome).toBe('incomplete');
  });
});
