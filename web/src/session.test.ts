import { describe, expect, it } from 'vitest';
import {
  EMPTY_SESSIONS,
  SESSION_KEY,
  activeSession,
  addSession,
  can,
  loadSessions,
  removeSession,
  saveSessions,
  switchSandbox,
} from './session.ts';
import type { Session } from './session.ts';

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const prod: Session = { token: 't-prod', sandbox: 'prod', permissions: ['View Destinations'] };
const dev: Session = { token: 't-dev', sandbox: 'dev', permissions: ['Manage Destinations'] };

describe('sessions', () => {
  it('round-trips through storage and clears it when the last one signs out', () => {
    const storage = new MemoryStorage();
    const state = addSession(addSession(EMPTY_SESSIONS, prod), dev);
    saveSessions(storage, state);
    expect(loadSessions(storage)).toEqual(state);
    saveSessions(storage, removeSession(removeSession(state, 'dev'), 'prod'));
    expect(storage.items.has(SESSION_KEY)).toBe(false);
  });

  it('treats unreadable storage as signed out', () => {
    const storage = new MemoryStorage();
    storage.setItem(SESSION_KEY, '{not json');
    expect(loadSessions(storage)).toEqual(EMPTY_SESSIONS);
    storage.setItem(SESSION_KEY, JSON.stringify({ sessions: [{ token: 1 }], active: 'x' }));
    expect(loadSessions(storage)).toEqual({ sessions: [], active: null });
  });

  it('keeps one token per sandbox and switches between them', () => {
    let state = addSession(addSession(EMPTY_SESSIONS, prod), dev);
    expect(state.active).toBe('dev');
    state = addSession(state, { ...prod, token: 't-prod-2' });
    expect(state.sessions.map((s) => [s.sandbox, s.token])).toEqual([
      ['dev', 't-dev'],
      ['prod', 't-prod-2'],
    ]);
    state = switchSandbox(state, 'dev');
    expect(activeSession(state)?.token).toBe('t-dev');
    expect(switchSandbox(state, 'unknown')).toBe(state);
  });

  it('falls back to another sandbox when the active one signs out', () => {
    const state = removeSession(addSession(addSession(EMPTY_SESSIONS, prod), dev), 'dev');
    expect(state.active).toBe('prod');
  });

  it('answers permission questions', () => {
    expect(can(prod, 'View Destinations')).toBe(true);
    expect(can(prod, 'Manage Destinations')).toBe(false);
    expect(can(null, 'View Destinations')).toBe(false);
  });
});
