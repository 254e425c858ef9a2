/** A small hash router: the console is served from one index.html, so routes live after the `#`. */
import { useEffect, useState } from 'react';

export type DataflowTab = 'runs' | 'audiences' | 'errors' | 'alerts' | 'dead-letters' | 'import' | 'settings';

export const DATAFLOW_TABS: readonly DataflowTab[] = [
  'runs',
  'audiences',
  'errors',
  'alerts',
  'dead-letters',
  'import',
  'settings',
];

export type Route =
  | { page: 'catalog' }
  | { page: 'connect'; destinationId?: string }
  | { page: 'activate'; destinationId?: string }
  | { page: 'segments' }
  | { page: 'dataflows' }
  | { page: 'dataflow'; id: string; tab: DataflowTab; runId?: string }
  | { page: 'settings' }
  | { page: 'not-found'; path: string };

/** Parses `#/dataflows/df_1/errors?run=r1` style hashes. Unknown paths become a not-found route, never an exception. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [pathPart = '', queryPart = ''] = raw.split('?', 2);
  const parts = pathPart
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decodeURIComponent(p));
  const query = new URLSearchParams(queryPart);
  const [head, second, third] = parts;
  if (parts.length === 0 || (head === 'destinations' && parts.length === 1)) return { page: 'catalog' };
  if (head === 'connect' && parts.length <= 2)
    return second ? { page: 'connect', destinationId: second } : { page: 'connect' };
  if (head === 'activate' && parts.length <= 2) {
    return second ? { page: 'activate', destinationId: second } : { page: 'activate' };
  }
  if (head === 'segments' && parts.length === 1) return { page: 'segments' };
  if (head === 'dataflows' && parts.length === 1) return { page: 'dataflows' };
  if (head === 'dataflows' && second && parts.length <= 3) {
    const tab = (DATAFLOW_TABS as readonly string[]).includes(third ?? '') ? (third as DataflowTab) : 'runs';
    if (third !== undefined && tab !== third) return { page: 'not-found', path: pathPart };
    const run = query.get('run');
    return run ? { page: 'dataflow', id: second, tab, runId: run } : { page: 'dataflow', id: second, tab };
  }
  if (head === 'settings' && parts.length === 1) return { page: 'settings' };
  return { page: 'not-found', path: pathPart };
}

export function formatRoute(route: Route): string {
  const enc = encodeURIComponent;
  switch (route.page) {
    case 'catalog':
      return '#/';
    case 'connect':
      return route.destinationId ? `#/connect/${enc(route.destinationId)}` : '#/connect';
    case 'activate':
      return route.destinationId ? `#/activate/${enc(route.destinationId)}` : '#/activate';
    case 'segments':
      return '#/segments';
    case 'dataflows':
      return '#/dataflows';
    case 'dataflow':
      return `#/dataflows/${enc(route.id)}/${route.tab}${route.runId ? `?run=${enc(route.runId)}` : ''}`;
    case 'settings':
      return '#/settings';
    case 'not-found':
      return `#/${route.path}`;
  }
}

export function navigate(route: Route): void {
  window.location.hash = formatRoute(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
