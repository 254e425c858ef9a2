import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import {
  ALERT_TYPES,
  ALERT_TYPE_DESCRIPTIONS,
  ApiError,
  RUN_NOTICE_TYPES,
  SUBSCRIBABLE_TYPES,
} from '../api.ts';
import type {
  ConnectionCandidate,
  Destination,
  LoginStart,
  Preflight,
  SubscribableAlertType,
  WebhookFormat,
} from '../api.ts';
import { useApp } from '../app-context.tsx';
import { NameInput } from '../components/name-input.tsx';
import { ErrorMessage, Field, Loading, StatusBadge, Stepper } from '../components/ui.tsx';
import { MARKETING_ACTIONS, checkFix, checkLabel, orderChecks } from '../preflight.ts';
import { formatRoute, navigate } from '../router.ts';
import {
  CREDENTIAL_LABELS,
  validateAccountId,
  validateCredentials,
  validateName,
  validatePin,
  validateWebhookUrl,
  validatePagerDutyKey,
  validateEmailList,
} from '../validation.ts';
import type { CredentialFields } from '../validation.ts';
import { WEBHOOK_FORMATS } from '../webhook-formats.ts';

type Step = 'details' | 'authenticate' | 'preflight' | 'governance';

const STEPS: { id: Step; label: string }[] = [
  { id: 'details', label: 'Connection details' },
  { id: 'authenticate', label: 'Authenticate' },
  { id: 'preflight', label: 'Preflight checks' },
  { id: 'governance', label: 'Marketing actions & alerts' },
];

const EMPTY_CREDENTIALS: CredentialFields = {
  consumerKey: '',
  consumerSecret: '',
  accessToken: '',
  accessTokenSecret: '',
};

export function ConnectWizard({ destinationId }: { destinationId?: string }) {
  const { api, session } = useApp();
  const existing = useQuery({
    queryKey: [session.sandbox, 'destination', destinationId],
    queryFn: () => api.getDestination(destinationId ?? ''),
    enabled: destinationId !== undefined,
  });
  if (destinationId !== undefined) {
    if (existing.isPending) return <Loading label="Loading the connection…" />;
    if (existing.isError) {
      return (
        <section className="page">
          <h1>Connect X Custom Audiences</h1>
          <ErrorMessage error={existing.error} title="Could not load the connection" />
        </section>
      );
    }
  }
  return (
    <ConnectForm {...(existing.data ? { initial: existing.data } : {})} key={existing.data?.id ?? 'new'} />
  );
}

function ConnectForm({ initial }: { initial?: Destination }) {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const [step, setStep] = useState<Step>('details');
  const [destination, setDestination] = useState<Destination | null>(initial ?? null);
  const [name, setName] = useState(initial?.name ?? '');
  const [description, setDescription] = useState(initial?.description ?? '');
  const [accountId, setAccountId] = useState(initial?.accountId ?? '');
  const [method, setMethod] = useState<'pin' | 'keys' | 'keep'>(initial?.hasCredentials ? 'keep' : 'pin');
  const [credentials, setCredentials] = useState<CredentialFields>(EMPTY_CREDENTIALS);
  const [login, setLogin] = useState<LoginStart | null>(null);
  const [pin, setPin] = useState('');
  const [app, setApp] = useState({ consumerKey: '', consumerSecret: '' });
  // With a default X app on the service, "Log in with X" needs no keys; the user may still name another app.
  const settings = useQuery({ queryKey: ['settings'], queryFn: () => api.settings(), staleTime: Infinity });
  const hasDefaultApp = settings.data?.xLogin.defaultApp === true;
  const [ownApp, setOwnApp] = useState(false);
  const askAppKeys = !hasDefaultApp || ownApp;
  const [preflight, setPreflight] = useState<Preflight | null>(null);
  const [actions, setActions] = useState<string[]>(initial?.marketingActions ?? []);
  const [customAction, setCustomAction] = useState('');
  // The stored webhook is shown by its origin only (its URL is a secret): a URL typed here replaces it.
  const [webhook, setWebhook] = useState('');
  const [removeWebhook, setRemoveWebhook] = useState(false);
  const [webhookFormat, setWebhookFormat] = useState<WebhookFormat>(initial?.alertWebhook?.format ?? 'json');
  const [emails, setEmails] = useState((initial?.alertEmailTo ?? []).join(', '));
  // Like the webhook's URL, a stored PagerDuty key is never shown: one typed here replaces it.
  const [pagerDutyKey, setPagerDutyKey] = useState('');
  const [removePagerDuty, setRemovePagerDuty] = useState(false);
  // Null: every alert type (including any added later), and no run notification; checking every alert box and no
  // notification box means the same.
  const [alertTypes, setAlertTypes] = useState<readonly SubscribableAlertType[]>(
    initial?.alertTypes ?? ALERT_TYPES,
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [touched, setTouched] = useState(false);
  // The service's refusal of a new account id (its audiences live in the current account), shown at the field.
  const [accountRefusal, setAccountRefusal] = useState<{ accountId: string; error: ApiError } | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);

  // Moving between steps puts keyboard focus on the step heading, so screen readers announce the new step.
  useEffect(() => headingRef.current?.focus(), [step]);

  const nameResult = validateName(name, { field: 'name' });
  const descriptionResult = validateName(description, { field: 'description' });
  const accountResult = validateAccountId(accountId);
  const credentialErrors = validateCredentials(credentials);
  const webhookResult = validateWebhookUrl(webhook);
  const emailsResult = validateEmailList(emails);
  const pagerDutyResult = validatePagerDutyKey(pagerDutyKey);
  // Null: the service sends no email (undefined: not said, to a token that may not read the settings).
  const noEmail = settings.data?.alertEmail === null;
  const alertsOk = webhookResult.ok && emailsResult.ok && pagerDutyResult.ok;
  const currentWebhook = destination?.alertWebhook ?? initial?.alertWebhook ?? null;
  const hasPagerDutyKey = destination?.hasAlertPagerDutyKey ?? initial?.hasAlertPagerDutyKey ?? false;
  const detailsOk = nameResult.ok && descriptionResult.ok && accountResult.ok;

  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
  };

  const run = async (label: string, fn: () => Promise<void>) => {
    setBusy(label);
    setError(null);
    try {
      await fn();
    } catch (caught) {
      if (caught instanceof ApiError && caught.code === 'account_in_use') {
        setAccountRefusal({ accountId: details().accountId, error: caught });
        setStep('details');
      } else setError(caught);
    } finally {
      setBusy(null);
    }
  };

  const details = () => ({
    name: nameResult.ok ? nameResult.value : name,
    description: descriptionResult.ok ? descriptionResult.value : description,
    accountId: accountResult.ok ? accountResult.value : accountId,
  });

  /**
   * What an existing connection would change: a new account id, new pasted keys. Neither is saved before the preflight
   * passes with it, so a typo cannot break the dataflows that use the working connection.
   */
  const candidate = (current: Destination): ConnectionCandidate => ({
    ...(details().accountId !== current.accountId ? { accountId: details().accountId } : {}),
    ...(method === 'keys' ? { credentials: trimmed(credentials) } : {}),
  });

  /** Checks the candidate (if any) against X; the service saves it only when every check passes. */
  const checkConnection = async (current: Destination) => {
    const next = candidate(current);
    if (next.accountId === undefined && next.credentials === undefined) return runPreflight(current.id);
    setStep('preflight');
    const result = await api.verifyDestination(current.id, next);
    setPreflight(result);
    if (result.saved) {
      setDestination(await api.getDestination(current.id));
      if (next.credentials) {
        setCredentials(EMPTY_CREDENTIALS);
        setMethod('keep');
      }
      await refresh();
    }
  };

  const submitDetails = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!detailsOk) return;
    void run('Saving details…', async () => {
      if (destination) {
        const current = details();
        // Name and description are the service's own labels: saved now. The account id waits for a check.
        if (current.name !== destination.name || current.description !== destination.description) {
          setDestination(
            await api.updateDestination(destination.id, {
              name: current.name,
              description: current.description,
            }),
          );
          await refresh();
        }
        if (current.accountId !== destination.accountId) {
          // Refused at once (409, shown at the field) when audiences live in the current account; otherwise saved
          // only if the stored credentials pass every check on the new account.
          const result = await api.verifyDestination(destination.id, { accountId: current.accountId });
          setAccountRefusal(null);
          if (result.saved) setDestination(await api.getDestination(destination.id));
          setPreflight(null);
          await refresh();
        }
        if (destination.hasCredentials) setMethod('keep');
      }
      setStep('authenticate');
    });
  };

  /** Creates the connection; an existing one changes its account and credentials only through `checkConnection`. */
  const saveConnection = async (withCredentials: boolean): Promise<Destination> => {
    const body = withCredentials ? { ...details(), credentials: trimmed(credentials) } : details();
    const saved = await api.createDestination(body);
    setDestination(saved);
    await refresh();
    return saved;
  };

  const submitKeys = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (method === 'keys' && Object.keys(credentialErrors).length > 0) return;
    void run(destination ? 'Checking the connection…' : 'Saving credentials…', async () => {
      if (destination) return checkConnection(destination);
      const saved = await saveConnection(method === 'keys');
      await runPreflight(saved.id);
    });
  };

  const appErrors = {
    consumerKey: app.consumerKey.trim() === '' ? 'The app consumer key (API key) is required.' : null,
    consumerSecret:
      app.consumerSecret.trim() === '' ? 'The app consumer secret (API secret) is required.' : null,
  };

  const startPinLogin = () => {
    setTouched(true);
    if (askAppKeys && (appErrors.consumerKey || appErrors.consumerSecret)) return Promise.resolve();
    return run('Asking X for a login link…', async () => {
      const saved = destination ?? (await saveConnection(false));
      setLogin(
        askAppKeys
          ? await api.startLogin(saved.id, {
              consumerKey: app.consumerKey.trim(),
              consumerSecret: app.consumerSecret.trim(),
            })
          : await api.startLogin(saved.id),
      );
      setPin('');
    });
  };

  const submitPin = (event: FormEvent) => {
    event.preventDefault();
    const checked = validatePin(pin);
    if (!checked.ok || !destination || !login) return;
    void run('Completing the login…', async () => {
      const saved = await api.completeLogin(destination.id, {
        pin: checked.value,
        requestToken: login.requestToken,
      });
      setDestination(saved);
      // X issued these tokens; a new account id still waits for the check.
      await checkConnection(saved);
    });
  };

  const runPreflight = async (id: string) => {
    setStep('preflight');
    setPreflight(await api.verifyDestination(id));
    await refresh();
  };

  const saveGovernance = (then: 'exit' | 'activate') => {
    if (!destination || !webhookResult.ok || !emailsResult.ok || !pagerDutyResult.ok) return;
    void run('Saving…', async () => {
      const unchangedEmails = emailsResult.value.join(',') === (destination.alertEmailTo ?? []).join(',');
      const saved = await api.updateDestination(destination.id, {
        marketingActions: actions,
        // Left out when nothing was typed: the stored webhook stays (or stays absent).
        ...(removeWebhook
          ? { alertWebhookUrl: null }
          : webhookResult.value !== ''
            ? { alertWebhookUrl: webhookResult.value }
            : {}),
        alertWebhookFormat: webhookFormat,
        ...(removePagerDuty
          ? { alertPagerDutyRoutingKey: null }
          : pagerDutyResult.value !== ''
            ? { alertPagerDutyRoutingKey: pagerDutyResult.value }
            : {}),
        // Left out when unchanged: a service without email refuses any list but keeps what it has.
        ...(unchangedEmails ? {} : { alertEmailTo: emailsResult.value }),
        alertTypes: everyAlertType(alertTypes) ? null : [...alertTypes],
      });
      await refresh();
      navigate(then === 'activate' ? { page: 'activate', destinationId: saved.id } : { page: 'catalog' });
    });
  };

  const showPinForm = method === 'pin' && login !== null;

  return (
    <section className="page wizard" aria-labelledby="connect-title">
      <h1 id="connect-title">{initial ? `Edit ${initial.name}` : 'Connect X Custom Audiences'}</h1>
      <Stepper steps={STEPS} current={step} />
      {busy ? <Loading label={busy} /> : null}
      {error ? <ErrorMessage error={error} title="The service refused this step" /> : null}

      {step === 'details' ? (
        <form className="card step" onSubmit={submitDetails} noValidate>
          <h2 ref={headingRef} tabIndex={-1}>
            Connection details
          </h2>
          <p className="callout">
            X refuses these characters in names, descriptions and audience mapping names:{' '}
            <code>+ &amp; , % : ; @ / = ? $</code> and line breaks.
          </p>
          <NameInput
            label="Name"
            field="name"
            value={name}
            onChange={setName}
            showErrors={touched}
            hint="How you will recognize this connection."
          />
          <NameInput
            label="Description"
            field="description"
            value={description}
            onChange={setDescription}
            showErrors={touched}
            multiline
          />
          <Field
            label="Account ID"
            hint="Your X Ads account ID, shown in the X Ads account settings (for example 18ce54d4x5t)."
            {...(accountResult.ok && accountRefusal?.accountId === accountResult.value
              ? {
                  error: (
                    <>
                      {accountRefusal.error.message}
                      {accountRefusal.error.details.length > 0 ? (
                        <ul>
                          {accountRefusal.error.details.map((d, i) => (
                            <li key={i}>{d.reason}</li>
                          ))}
                        </ul>
                      ) : null}
                    </>
                  ),
                }
              : {})}
            {...(!accountResult.ok && (touched || accountId !== '')
              ? {
                  error: (
                    <>
                      {accountResult.message}
                      {accountResult.suggestion ? (
                        <span className="suggestion">
                          Suggested: <q>{accountResult.suggestion}</q>{' '}
                          <button
                            type="button"
                            className="link-button"
                            onClick={() => setAccountId(accountResult.suggestion ?? '')}
                          >
                            Use suggestion
                          </button>
                        </span>
                      ) : null}
                    </>
                  ),
                }
              : {})}
          >
            {(props) => (
              <input
                {...props}
                type="text"
                value={accountId}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => setAccountId(e.target.value)}
              />
            )}
          </Field>
          <div className="actions">
            <a className="button secondary" href={formatRoute({ page: 'catalog' })}>
              Cancel
            </a>
            <button type="submit" disabled={busy !== null || (touched && !detailsOk)}>
              Next
            </button>
          </div>
        </form>
      ) : null}

      {step === 'authenticate' ? (
        <div className="card step">
          <h2 ref={headingRef} tabIndex={-1}>
            Authenticate to X
          </h2>
          <fieldset className="choice">
            <legend>How do you want to authorize access?</legend>
            <label>
              <input
                type="radio"
                name="auth-method"
                checked={method === 'pin'}
                onChange={() => setMethod('pin')}
              />{' '}
              Log in with X (PIN)
            </label>
            <label>
              <input
                type="radio"
                name="auth-method"
                checked={method === 'keys'}
                onChange={() => setMethod('keys')}
              />{' '}
              Paste consumer key/secret and access token/secret
            </label>
            {destination?.hasCredentials ? (
              <label>
                <input
                  type="radio"
                  name="auth-method"
                  checked={method === 'keep'}
                  onChange={() => setMethod('keep')}
                />{' '}
                Keep the stored credentials
              </label>
            ) : null}
          </fieldset>

          {method === 'pin' ? (
            <div className="pin-flow">
              <p>
                X opens in a new tab. Sign in with the user that has the{' '}
                <strong>Partner Audience Manager</strong> permission on account{' '}
                <code>{details().accountId}</code>, choose <strong>Authorize app</strong>, and copy the PIN X
                shows back here.{' '}
                {askAppKeys
                  ? 'The app keys are stored encrypted with the access token X issues.'
                  : "The service's own X app is used; no app keys are needed."}
              </p>
              {!login && hasDefaultApp ? (
                <label className="checkbox">
                  <input type="checkbox" checked={ownApp} onChange={(e) => setOwnApp(e.target.checked)} /> Use
                  a different X app (enter its consumer key and secret)
                </label>
              ) : null}
              {!login && askAppKeys ? (
                <div className="grid-2">
                  <Field
                    label="App consumer key (API key)"
                    hint="Of your X developer app approved for the Ads API."
                    {...(touched && appErrors.consumerKey ? { error: appErrors.consumerKey } : {})}
                  >
                    {(props) => (
                      <input
                        {...props}
                        type="text"
                        autoComplete="off"
                        spellCheck={false}
                        value={app.consumerKey}
                        onChange={(e) => setApp({ ...app, consumerKey: e.target.value })}
                      />
                    )}
                  </Field>
                  <Field
                    label="App consumer secret (API secret)"
                    {...(touched && appErrors.consumerSecret ? { error: appErrors.consumerSecret } : {})}
                  >
                    {(props) => (
                      <input
                        {...props}
                        type="password"
                        autoComplete="off"
                        spellCheck={false}
                        value={app.consumerSecret}
                        onChange={(e) => setApp({ ...app, consumerSecret: e.target.value })}
                      />
                    )}
                  </Field>
                </div>
              ) : null}
              {!login ? (
                <div className="actions">
                  <button type="button" className="secondary" onClick={() => setStep('details')}>
                    Back
                  </button>
                  <button type="button" onClick={() => void startPinLogin()} disabled={busy !== null}>
                    Log in with X
                  </button>
                </div>
              ) : null}
              {showPinForm ? (
                <form onSubmit={submitPin} noValidate>
                  <p>
                    <a href={login.authorizeUrl} target="_blank" rel="noreferrer noopener">
                      Open the X authorization page
                    </a>
                  </p>
                  <Field
                    label="PIN from X"
                    {...(pin !== '' && !validatePin(pin).ok
                      ? { error: 'Enter the numeric PIN X showed.' }
                      : {})}
                  >
                    {(props) => (
                      <input
                        {...props}
                        type="text"
                        inputMode="numeric"
                        autoComplete="one-time-code"
                        value={pin}
                        onChange={(e) => setPin(e.target.value)}
                      />
                    )}
                  </Field>
                  <div className="actions">
                    <button type="button" className="secondary" onClick={() => void startPinLogin()}>
                      Get a new link
                    </button>
                    <button type="submit" disabled={busy !== null || !validatePin(pin).ok}>
                      Complete login
                    </button>
                  </div>
                </form>
              ) : null}
            </div>
          ) : (
            <form onSubmit={submitKeys} noValidate>
              {method === 'keys' ? (
                <div className="grid-2">
                  {(Object.keys(CREDENTIAL_LABELS) as (keyof CredentialFields)[]).map((key) => (
                    <Field
                      key={key}
                      label={CREDENTIAL_LABELS[key]}
                      {...(touched && credentialErrors[key] ? { error: credentialErrors[key] } : {})}
                    >
                      {(props) => (
                        <input
                          {...props}
                          type="password"
                          autoComplete="off"
                          spellCheck={false}
                          value={credentials[key]}
                          onChange={(e) => setCredentials({ ...credentials, [key]: e.target.value })}
                        />
                      )}
                    </Field>
                  ))}
                  <p className="small muted span-2">
                    Stored encrypted by the service and never shown again. Use the keys of an app approved for
                    the X Ads API; regenerate user tokens made before the approval.
                  </p>
                </div>
              ) : (
                <p>The connection keeps its stored credentials.</p>
              )}
              <div className="actions">
                <button type="button" className="secondary" onClick={() => setStep('details')}>
                  Back
                </button>
                <button type="submit" disabled={busy !== null}>
                  {method === 'keys' ? 'Save and check' : 'Check the connection'}
                </button>
              </div>
            </form>
          )}
        </div>
      ) : null}

      {step === 'preflight' ? (
        <div className="card step">
          <h2 ref={headingRef} tabIndex={-1}>
            Preflight checks
          </h2>
          {!preflight ? (
            busy ? null : (
              <p>
                The checks have not run yet.{' '}
                <button
                  type="button"
                  disabled={!destination}
                  onClick={() =>
                    destination && void run('Running checks…', () => checkConnection(destination))
                  }
                >
                  Run checks
                </button>
              </p>
            )
          ) : (
            <>
              <p className={preflight.ok ? 'callout callout-ok' : 'callout callout-error'} role="status">
                {preflight.ok
                  ? 'All checks passed: this connection can create and fill audiences.'
                  : 'Some checks failed. Fix what is listed below, then run the checks again.'}
                {preflight.saved === false
                  ? ' Nothing was saved: the connection keeps its stored account and credentials.'
                  : null}
              </p>
              <ul className="checklist" aria-label="Preflight checklist">
                {orderChecks(preflight.checks).map((check) => {
                  const fix = checkFix(check);
                  return (
                    <li key={check.id} className={`check check-${check.status}`} data-check={check.id}>
                      <span className="check-icon" aria-hidden="true">
                        {check.status === 'pass'
                          ? '✓'
                          : check.status === 'fail'
                            ? '✕'
                            : check.status === 'warn'
                              ? '!'
                              : '–'}
                      </span>
                      <div>
                        <div>
                          <strong>{checkLabel(check)}</strong> <StatusBadge status={check.status} />
                        </div>
                        {check.message ? <div className="check-message">{check.message}</div> : null}
                        {fix ? (
                          <div className="check-fix">
                            <strong>What to do:</strong> {fix}
                          </div>
                        ) : null}
                      </div>
                    </li>
                  );
                })}
              </ul>
            </>
          )}
          <div className="actions">
            <button type="button" className="secondary" onClick={() => setStep('details')}>
              Edit details
            </button>
            <button type="button" className="secondary" onClick={() => setStep('authenticate')}>
              Change authentication
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => destination && void run('Running checks…', () => checkConnection(destination))}
              disabled={busy !== null || !destination}
            >
              Run checks again
            </button>
            <button type="button" onClick={() => setStep('governance')} disabled={!preflight?.ok}>
              Next
            </button>
          </div>
        </div>
      ) : null}

      {step === 'governance' ? (
        <form
          className="card step"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            saveGovernance('activate');
          }}
        >
          <h2 ref={headingRef} tabIndex={-1}>
            Marketing actions and alerts
          </h2>
          <fieldset className="checkbox-grid">
            <legend>Marketing actions this destination is used for</legend>
            <p className="small muted">
              Stored with the connection; data-usage policies will block activations whose labels forbid these
              actions.
            </p>
            {[
              ...MARKETING_ACTIONS,
              ...actions.filter((a) => !(MARKETING_ACTIONS as readonly string[]).includes(a)),
            ].map((action) => (
              <label key={action}>
                <input
                  type="checkbox"
                  checked={actions.includes(action)}
                  onChange={(e) =>
                    setActions(e.target.checked ? [...actions, action] : actions.filter((a) => a !== action))
                  }
                />{' '}
                {action}
              </label>
            ))}
          </fieldset>
          <div className="inline-add">
            <Field label="Custom marketing action" optional>
              {(props) => (
                <input
                  {...props}
                  type="text"
                  value={customAction}
                  onChange={(e) => setCustomAction(e.target.value)}
                />
              )}
            </Field>
            <button
              type="button"
              className="secondary"
              disabled={customAction.trim() === '' || actions.includes(customAction.trim())}
              onClick={() => {
                setActions([...actions, customAction.trim()]);
                setCustomAction('');
              }}
            >
              Add
            </button>
          </div>
          <SecretField
            label="Alert webhook URL"
            newLabel="New alert webhook URL"
            removeLabel="Remove the alert webhook"
            stored={currentWebhook !== null}
            hint={
              currentWebhook
                ? `Alerts are posted to a webhook at ${currentWebhook.origin}. Its URL is kept secret and not shown: leave this empty to keep it, or enter one to replace it.`
                : 'Called when a dataflow fails, pauses, is delayed or excludes too many identities, and when that clears. Kept secret: encrypted at rest, never shown again.'
            }
            error={webhookResult.ok ? undefined : webhookResult.message}
            input={{
              type: 'url',
              placeholder: currentWebhook ? `${currentWebhook.origin}/…` : 'https://hooks.example.com/alerts',
            }}
            value={webhook}
            onChange={setWebhook}
            remove={removeWebhook}
            onRemoveChange={setRemoveWebhook}
          />
          <Field
            label="Alert webhook format"
            hint="What the webhook takes: the documented JSON (scripts, incident tools), or a chat tool's own message."
          >
            {(props) => (
              <select
                {...props}
                value={webhookFormat}
                onChange={(e) => setWebhookFormat(e.target.value as WebhookFormat)}
              >
                {(Object.keys(WEBHOOK_FORMATS) as WebhookFormat[]).map((f) => (
                  <option key={f} value={f}>
                    {WEBHOOK_FORMATS[f].choice}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="Alert email recipients"
            optional
            hint={
              noEmail
                ? 'This service sends no email: set TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL on it to email alerts.'
                : "Addresses (comma-separated) this destination's alerts are also emailed to, besides the installation's."
            }
            {...(!emailsResult.ok ? { error: emailsResult.message } : {})}
          >
            {(props) => (
              <input
                {...props}
                type="text"
                inputMode="email"
                placeholder="crm-owner@example.com, oncall@example.com"
                value={emails}
                disabled={noEmail && emails.trim() === ''}
                onChange={(e) => setEmails(e.target.value)}
              />
            )}
          </Field>
          <SecretField
            label="PagerDuty routing key"
            newLabel="New PagerDuty routing key"
            removeLabel="Remove the PagerDuty routing key"
            stored={hasPagerDutyKey}
            hint={
              hasPagerDutyKey
                ? 'Its alerts page a PagerDuty service with a key of its own, kept secret and not shown: leave this empty to keep it, or enter one to replace it.'
                : "Its alerts also open incidents in this PagerDuty service, besides the installation's: the service's Events API V2 integration key. Kept secret: encrypted at rest, never shown again."
            }
            error={pagerDutyResult.ok ? undefined : pagerDutyResult.message}
            input={{ type: 'password', spellCheck: false }}
            value={pagerDutyKey}
            onChange={setPagerDutyKey}
            remove={removePagerDuty}
            onRemoveChange={setRemovePagerDuty}
          />
          <fieldset className="choice">
            <legend>Alerts its webhook, recipients and PagerDuty service receive</legend>
            <p className="muted">
              The installation&apos;s webhook, recipients and PagerDuty service receive every alert whatever
              is chosen here.
            </p>
            {ALERT_TYPES.map((type) => (
              <TypeChoice key={type} type={type} chosen={alertTypes} onChange={setAlertTypes} />
            ))}
          </fieldset>
          <fieldset className="choice">
            <legend>Run notifications its webhook and recipients receive</legend>
            <p className="muted">
              News rather than problems, as AEP&apos;s run start and success alerts: each is sent once per
              hourly run, only where chosen here (never to PagerDuty or the installation&apos;s targets).
            </p>
            {RUN_NOTICE_TYPES.map((type) => (
              <TypeChoice key={type} type={type} chosen={alertTypes} onChange={setAlertTypes} />
            ))}
          </fieldset>
          <div className="actions">
            <button type="button" className="secondary" onClick={() => setStep('preflight')}>
              Back
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => saveGovernance('exit')}
              disabled={busy !== null || !alertsOk}
            >
              Save &amp; exit
            </button>
            <button type="submit" disabled={busy !== null || !alertsOk}>
              Save and activate audiences
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

function trimmed(fields: CredentialFields): CredentialFields {
  return {
    consumerKey: fields.consumerKey.trim(),
    consumerSecret: fields.consumerSecret.trim(),
    accessToken: fields.accessToken.trim(),
    accessTokenSecret: fields.accessTokenSecret.trim(),
  };
}

/**
 * A write-only secret of the connection (a webhook URL, a routing key): the service never shows a stored one, so the
 * field starts empty and asks for a new value to replace it (left empty, it is kept), with a box to remove it.
 */
function SecretField(props: {
  label: string;
  /** The label once one is stored: what is typed replaces it. */
  newLabel: string;
  removeLabel: string;
  /** Whether one is stored now. */
  stored: boolean;
  hint: string;
  error: string | undefined;
  input: { type: 'url' | 'password'; placeholder?: string; spellCheck?: boolean };
  value: string;
  onChange: (value: string) => void;
  remove: boolean;
  onRemoveChange: (remove: boolean) => void;
}) {
  return (
    <>
      <Field
        label={props.stored ? props.newLabel : props.label}
        optional
        hint={props.hint}
        {...(props.error !== undefined ? { error: props.error } : {})}
      >
        {(field) => (
          <input
            {...field}
            {...props.input}
            autoComplete="off"
            value={props.value}
            disabled={props.remove}
            onChange={(e) => props.onChange(e.target.value)}
          />
        )}
      </Field>
      {props.stored ? (
        <label className="checkbox">
          <input
            type="checkbox"
            checked={props.remove}
            onChange={(e) => props.onRemoveChange(e.target.checked)}
          />{' '}
          {props.removeLabel}
        </label>
      ) : null}
    </>
  );
}

/** Every alert type and no run notification: what a destination's `alertTypes` null stands for. */
const everyAlertType = (chosen: readonly SubscribableAlertType[]) =>
  ALERT_TYPES.every((t) => chosen.includes(t)) && RUN_NOTICE_TYPES.every((t) => !chosen.includes(t));

/** One type's checkbox; the choice keeps the listed order. */
function TypeChoice({
  type,
  chosen,
  onChange,
}: {
  type: SubscribableAlertType;
  chosen: readonly SubscribableAlertType[];
  onChange: (next: readonly SubscribableAlertType[]) => void;
}) {
  return (
    <label>
      <input
        type="checkbox"
        checked={chosen.includes(type)}
        onChange={(e) =>
          onChange(SUBSCRIBABLE_TYPES.filter((t) => (t === type ? e.target.checked : chosen.includes(t))))
        }
      />{' '}
      {ALERT_TYPE_DESCRIPTIONS[type]} <code>{type}</code>
    </label>
  );
}
