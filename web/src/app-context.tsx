import { createContext, useContext } from 'react';
import type { Api } from './api.ts';
import type { Session } from './session.ts';

export interface AppContextValue {
  api: Api;
  session: Session;
  /** Signs in with another token (another sandbox) and switches to it. */
  addSession: (session: Session) => void;
  /** Says `message` to screen readers through the console's polite live region (what happened out of sight). */
  announce: (message: string) => void;
}

export const AppContext = createContext<AppContextValue | null>(null);

/** The signed-in API client and session; pages render only inside a signed-in shell. */
export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new TypeError('useApp() is used outside the signed-in console');
  return value;
}
