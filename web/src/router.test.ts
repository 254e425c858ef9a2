import { describe, expect, it } from 'vitest';
import { formatRoute, parseRoute } from './router.ts';
import type { Route } from './router.ts';

describe('hash routes', () => {
  it('parses every page', () => {
    expect(parseRoute('')).toEqual({ page: 'catalog' });
    expect(parseRoute('#/')).toEqual({ page: 'catalog' });
    expect(parseRoute('#/connect')).toEqual({ page: 'connect' });
    expect(parseRoute('#/connect/d%201')).toEqual({ page: 'connect', destinationId: 'd 1' });
    expect(parseRoute('#/activate/d1')).toEqual({ page: 'activate', destinationId: 'd1' });
    expect(parseRoute('#/segments')).toEqual({ page: 'segments' });
    expect(parseRoute('#/dataflows')).toEqual({ page: 'dataflows' });
    expect(parseRoute('#/dataflows/df1')).toEqual({ page: 'dataflow', id: 'df1', tab: 'runs' });
    expect(parseRoute('#/dataflows/df1/errors?run=r%3A1')).toEqual({
      page: 'dataflow',
      id: 'df1',
      tab: 'errors',
      runId: 'r:1',
    });
    expect(parseRoute('#/settings')).toEqual({ page: 'settings' });
  });

  it('turns unknown paths into a not-found page', () => {
    expect(parseRoute('#/nowhere')).toEqual({ page: 'not-found', path: '/nowhere' });
    expect(parseRoute('#/segments/seg-1')).toEqual({ page: 'not-found', path: '/segments/seg-1' });
    expect(parseRoute('#/dataflows/df1/bogus')).toEqual({ page: 'not-found', path: '/dataflows/df1/bogus' });
  });

  it('formats routes that parse back to themselves', () => {
    const routes: Route[] = [
      { page: 'catalog' },
      { page: 'connect' },
      { page: 'connect', destinationId: 'a/b' },
      { page: 'activate', destinationId: 'd1' },
      { page: 'segments' },
      { page: 'dataflows' },
      { page: 'dataflow', id: 'df 1', tab: 'dead-letters' },
      { page: 'dataflow', id: 'df1', tab: 'import' },
      { page: 'dataflow', id: 'df1', tab: 'errors', runId: 'df1:2026-11-28T10:00:00.000Z' },
      { page: 'settings' },
    ];
    for (const route of routes) expect(parseRoute(formatRoute(route))).toEqual(route);
  });
});
