import { useState } from 'react';
import type { FormEvent } from 'react';
import { createApi } from '../api.ts';
import { ErrorMessage, Field } from '../components/ui.tsx';
import type { Session } from '../session.ts';

export function SignIn({
  onSignedIn,
  onCancel,
  adding,
}: {
  onSignedIn: (session: Session) => void;
  onCancel?: () => void;
  adding: boolean;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (token.trim() === '') {
      setError(new Error('Paste an API token to sign in.'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const identity = await createApi({ token: token.trim() }).whoami();
      const session: Session = {
        token: token.trim(),
        sandbox: identity.sandbox,
        permissions: identity.permissions,
        tokenName: identity.name,
        tokenId: identity.tokenId,
      };
      onSignedIn(session);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <form className="card signin-card" onSubmit={(e) => void submit(e)} aria-labelledby="signin-title">
        <h1 id="signin-title">{adding ? 'Add a sandbox' : 'Sign in to the console'}</h1>
        <p className="muted">
          Use an API token. A token belongs to one sandbox; the admin token of a new install is printed once
          at start-up and kept in <code>admin-token</code> in the data directory.
        </p>
        <Field label="API token" hint="Kept in this browser tab only, and forgotten when the tab closes.">
          {(props) => (
            <input
              {...props}
              type="password"
              autoComplete="off"
              spellCheck={false}
              value={token}
              onChange={(e) => setToken(e.target.value)}
              autoFocus
            />
          )}
        </Field>
        {error ? <ErrorMessage error={error} title="Sign-in failed" /> : null}
        <div className="actions">
          {onCancel ? (
            <button type="button" className="secondary" onClick={onCancel}>
              Cancel
            </button>
          ) : null}
          <button type="submit" disabled={busy}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
        </div>
      </form>
    </main>
  );
}
