import { useQueryClient } from '@tanstack/react-query';
import { Suspense, lazy, useCallback, useMemo, useState } from 'react';
import { createApi } from './api.ts';
import { AppContext } from './app-context.tsx';
import { ActivateWizard } from './pages/activate-wizard.tsx';
import { Catalog } from './pages/catalog.tsx';
import { ConnectWizard } from './pages/connect-wizard.tsx';
import { Dataflows } from './pages/dataflows.tsx';
import { Segments } from './pages/segments.tsx';
import { Settings } from './pages/settings.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { Loading } from './components/ui.tsx';
import { formatRoute, useRoute } from './router.ts';
import type { Route } from './router.ts';
import {
  activeSession,
  addSession,
  loadSessions,
  removeSession,
  saveSessions,
  switchSandbox,
} from './session.ts';
import type { Session, SessionState } from './session.ts';

// The monitoring page carries the charting library; load it when first visited.
const DataflowDetail = lazy(async () => ({
  default: (await import('./pages/dataflow-detail.tsx')).DataflowDetail,
}));

function useSessions() {
  const [state, setState] = useState<SessionState>(() => loadSessions(window.sessionStorage));
  const update = (next: SessionState) => {
    saveSessions(window.sessionStorage, next);
    setState(next);
  };
  return { state, update };
}

const NAV: { label: string; route: Route; match: Route['page'][] }[] = [
  { label: 'Destinations', route: { page: 'catalog' }, match: ['catalog', 'connect', 'activate'] },
  { label: 'Segments', route: { page: 'segments' }, match: ['segments'] },
  { label: 'Dataflows', route: { page: 'dataflows' }, match: ['dataflows', 'dataflow'] },
  { label: 'Settings', route: { page: 'settings' }, match: ['settings'] },
];

export function App() {
  const { state, update } = useSessions();
  const [addingSandbox, setAddingSandbox] = useState(false);
  // What the live region says last; a new key each time, so the same words said twice are read twice.
  const [announcement, setAnnouncement] = useState({ key: 0, text: '' });
  const announce = useCallback(
    (text: string) => setAnnouncement((previous) => ({ key: previous.key + 1, text })),
    [],
  );
  const route = useRoute();
  const queryClient = useQueryClient();
  const session = activeSession(state);
  const api = useMemo(() => (session ? createApi({ token: session.token }) : null), [session]);

  const signedIn = (next: Session) => {
    update(addSession(state, next));
    setAddingSandbox(false);
  };

  if (!session || !api || addingSandbox) {
    return (
      <SignIn
        onSignedIn={signedIn}
        {...(addingSandbox ? { onCancel: () => setAddingSandbox(false) } : {})}
        adding={addingSandbox}
      />
    );
  }

  return (
    <AppContext.Provider value={{ api, session, addSession: signedIn, announce }}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            𝕏
          </span>
          <span>Custom Audiences</span>
        </div>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.label}>
                <a
                  href={formatRoute(item.route)}
                  aria-current={item.match.includes(route.page) ? 'page' : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sandbox">
          <label htmlFor="sandbox-switcher">Sandbox</label>
          <select
            id="sandbox-switcher"
            value={session.sandbox}
            onChange={(e) => {
              if (e.target.value === '__add__') setAddingSandbox(true);
              else {
                update(switchSandbox(state, e.target.value));
                queryClient.clear();
              }
            }}
          >
            {state.sessions.map((s) => (
              <option key={s.sandbox} value={s.sandbox}>
                {s.sandbox}
              </option>
            ))}
            <option value="__add__">Add a sandbox…</option>
          </select>
          <button
            type="button"
            className="secondary small"
            onClick={() => {
              update(removeSession(state, session.sandbox));
              queryClient.clear();
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} key={session.sandbox} />
      </main>
      <div className="visually-hidden" role="status" aria-live="polite" data-testid="announcer">
        {announcement.text ? <p key={announcement.key}>{announcement.text}</p> : null}
      </div>
    </AppContext.Provider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'catalog':
      return <Catalog />;
    case 'connect':
      return <ConnectWizard {...(route.destinationId ? { destinationId: route.destinationId } : {})} />;
    case 'activate':
      return <ActivateWizard {...(route.destinationId ? { destinationId: route.destinationId } : {})} />;
    case 'segments':
      return <Segments />;
    case 'dataflows':
      return <Dataflows />;
    case 'dataflow':
      return (
        <Suspense fallback={<Loading label="Loading the dataflow page…" />}>
          <DataflowDetail id={route.id} tab={route.tab} {...(route.runId ? { runId: route.runId } : {})} />
        </Suspense>
      );
    case 'settings':
      return <Settings />;
    case 'not-found':
      return (
        <section className="page">
          <h1>Page not found</h1>
          <p>
            Nothing lives at <code>/{route.path}</code>. <a href="#/">Go to destinations</a>.
          </p>
        </section>
      );
  }
}
