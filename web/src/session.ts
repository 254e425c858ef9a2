/**
 * Signed-in tokens, kept in sessionStorage so they vanish with the tab. A token belongs to one sandbox, so switching
 * sandbox means switching to another signed-in token; the console keeps one per sandbox.
 */
import type { Permission } from './api.ts';

export interface Session {
  token: string;
  sandbox: string;
  permissions: Permission[];
  tokenName?: string;
  tokenId?: string;
}

export interface SessionState {
  sessions: Session[];
  /** Sandbox of the active session, or null when signed out. */
  active: string | null;
}

export const SESSION_KEY = 'tca.console.sessions';

export const EMPTY_SESSIONS: SessionState = { sessions: [], active: null };

function isSession(value: unknown): value is Session {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['token'] === 'string' && typeof v['sandbox'] === 'string' && Array.isArray(v['permissions'])
  );
}

/** Reads the stored state; anything unreadable counts as signed out rather than breaking the page. */
export function loadSessions(storage: Pick<Storage, 'getItem'>): SessionState {
  const raw = storage.getItem(SESSION_KEY);
  if (!raw) return EMPTY_SESSIONS;
  try {
    const parsed = JSON.parse(raw) as { sessions?: unknown; active?: unknown };
    const sessions = Array.isArray(parsed.sessions) ? parsed.sessions.filter(isSession) : [];
    const active =
      typeof parsed.active === 'string' && sessions.some((s) => s.sandbox === parsed.active)
        ? parsed.active
        : (sessions[0]?.sandbox ?? null);
    return { sessions, active };
  } catch {
    return EMPTY_SESSIONS;
  }
}

export function saveSessions(storage: Pick<Storage, 'setItem' | 'removeItem'>, state: SessionState): void {
  if (state.sessions.length === 0) storage.removeItem(SESSION_KEY);
  else storage.setItem(SESSION_KEY, JSON.stringify(state));
}

/** Adds (or replaces, for the same sandbox) a session and makes it active. */
export function addSession(state: SessionState, session: Session): SessionState {
  const sessions = state.sessions.filter((s) => s.sandbox !== session.sandbox);
  sessions.push(session);
  sessions.sort((a, b) => a.sandbox.localeCompare(b.sandbox));
  return { sessions, active: session.sandbox };
}

export function switchSandbox(state: SessionState, sandbox: string): SessionState {
  return state.sessions.some((s) => s.sandbox === sandbox) ? { ...state, active: sandbox } : state;
}

/** Signs out of one sandbox; the next remaining one becomes active. */
export function removeSession(state: SessionState, sandbox: string): SessionState {
  const sessions = state.sessions.filter((s) => s.sandbox !== sandbox);
  const active = state.active === sandbox ? (sessions[0]?.sandbox ?? null) : state.active;
  return { sessions, active };
}

export function activeSession(state: SessionState): Session | null {
  return state.sessions.find((s) => s.sandbox === state.active) ?? null;
}

export function can(session: Session | null, permission: Permission): boolean {
  return session !== null && session.permissions.includes(permission);
}
