import { describe, expect, it } from 'vitest';
import {
  ApiError,
  errorFromResponse,
  listOf,
  normalizePlan,
  normalizePreflight,
  normalizeRun,
  sumMetric,
} from './api.ts';

describe('errorFromResponse', () => {
  it("keeps the service's code, message and details", async () => {
    const body = {
      error: {
        code: 'validation_failed',
        message: 'The dataflow is invalid',
        details: [{ path: 'mapping', reason: 'x' }],
      },
    };
    const error = await errorFromResponse(new Response(JSON.stringify(body), { status: 400 }));
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.message, error.details]).toEqual([
      400,
      'validation_failed',
      'The dataflow is invalid',
      [{ path: 'mapping', reason: 'x' }],
    ]);
  });

  it('describes answers without the envelope', async () => {
    const error = await errorFromResponse(new Response('<html>', { status: 502, statusText: 'Bad Gateway' }));
    expect([error.code, error.message]).toEqual(['http_502', 'The service answered 502 Bad Gateway']);
  });
});

describe('normalizeRun', () => {
  it('reads the run window from runStart or startedAt and lists reasons with descriptions', () => {
    const run = normalizeRun({
      runId: 'df:1',
      startedAt: Date.parse('2026-11-28T10:00:00Z'),
      status: 'processing',
      profilesReceived: 12,
      identitiesActivated: 8,
      identitiesAdded: 7,
      identitiesRemoved: 1,
      identitiesExcluded: 2,
      identitiesFailed: 1,
      activationRate: 8 / 11,
      excludedByReason: { email_missing_at: 2 },
      failedByCode: { TRANSIENT: 1 },
      pendingChanges: 3,
      pendingPeak: 40,
    });
    expect(run).toMatchObject({
      id: 'df:1',
      startedAt: '2026-11-28T10:00:00.000Z',
      status: 'processing',
      activationRate: 8 / 11,
      pendingChanges: 3,
      pendingPeak: 40,
    });
    expect(run.reasons).toEqual([
      { code: 'TRANSIENT', count: 1, kind: 'failed', description: expect.stringContaining('retry') },
      {
        code: 'email_missing_at',
        count: 2,
        kind: 'excluded',
        description: 'Not an email address: there is no "@".',
      },
    ]);
    // A run without samples (pendingChanges null) has none.
    expect(normalizeRun({ runStart: '2026-11-28T09:00:00.000Z', pendingChanges: null })).not.toHaveProperty(
      'pendingChanges',
    );
    expect(normalizeRun({ runStart: '2026-11-28T09:00:00.000Z', identitiesActivated: 1 })).toMatchObject({
      id: '2026-11-28T09:00:00.000Z',
      startedAt: '2026-11-28T09:00:00.000Z',
      activationRate: 1,
      reasons: [],
    });
  });
});

describe('normalizePreflight and normalizePlan', () => {
  it("keeps each check's status as the service states it", () => {
    expect(
      normalizePreflight({
        ok: false,
        checks: [
          { id: 'credentials', label: 'Credentials', status: 'pass', message: 'fine', fix: null },
          {
            id: 'account_access',
            label: 'Account',
            status: 'fail',
            message: 'ACCOUNT_NOT_FOUND',
            fix: 'Check the id',
          },
          { id: 'account_age', label: 'Age', status: 'warn', message: 'Created 3 days ago' },
        ],
      }),
    ).toEqual({
      ok: false,
      checks: [
        { id: 'credentials', label: 'Credentials', status: 'pass', message: 'fine', fix: null },
        {
          id: 'account_access',
          label: 'Account',
          status: 'fail',
          message: 'ACCOUNT_NOT_FOUND',
          fix: 'Check the id',
        },
        { id: 'account_age', label: 'Age', status: 'warn', message: 'Created 3 days ago', fix: null },
      ],
    });
  });

  it('shows an unknown or missing status as failed, never as passed', () => {
    const result = normalizePreflight({
      ok: false,
      checks: [
        { id: 'a', status: 'mystery', message: '' },
        { id: 'b', ok: true, message: '' },
      ],
    });
    expect(result.checks.map((c) => c.status)).toEqual(['fail', 'fail']);
  });

  it('fills in plan totals', () => {
    expect(normalizePlan({ dataflowId: 'df' })).toEqual({
      dataflowId: 'df',
      audiences: [],
      totals: { pendingAdds: 0, pendingRemoves: 0, requests: 0 },
    });
  });
});

describe('helpers', () => {
  it('reads lists from { items } or arrays', () => {
    expect(listOf({ items: [1, 2] })).toEqual([1, 2]);
    expect(listOf([3])).toEqual([3]);
    expect(listOf(null)).toEqual([]);
  });

  it('sums a Prometheus metric over its label sets', () => {
    const text = [
      '# HELP tca_x_requests_total Requests',
      '# TYPE tca_x_requests_total counter',
      'tca_x_requests_total{status="200",endpoint="users"} 12',
      'tca_x_requests_total{status="429",endpoint="users"} 3',
      'tca_x_requests_total_other 100',
      'tca_pending_changes{kind="add"} 4',
    ].join('\n');
    expect(sumMetric(text, 'tca_x_requests_total')).toBe(15);
    expect(sumMetric(text, 'tca_pending_changes')).toBe(4);
    expect(sumMetric(text, 'missing')).toBe(0);
  });
});

describe('normalizePreflight, skipped checks', () => {
  it('shows checks that could not run as skipped, from the status field', () => {
    const result = normalizePreflight({
      ok: false,
      checks: [
        {
          id: 'permissions',
          label: 'Partner Audience Manager',
          status: 'skipped',
          message: 'Not checked: the ads account is not accessible.',
        },
      ],
    });
    expect(result.checks[0]?.status).toBe('skipped');
  });

  it('does not read the status from the wording of the message', () => {
    const result = normalizePreflight({
      ok: false,
      checks: [{ id: 'credentials', status: 'fail', message: 'Skipped tokens are refused by X.' }],
    });
    expect(result.checks[0]?.status).toBe('fail');
  });
});
