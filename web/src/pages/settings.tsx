import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { PERMISSIONS, PERMISSION_DESCRIPTIONS, createApi } from '../api.ts';
import { WEBHOOK_FORMATS } from '../webhook-formats.ts';
import type {
  ConsentPolicy,
  ConsentPolicyInput,
  CreatedToken,
  CustomPolicyInput,
  DataUsagePolicies,
  FieldLabel,
  Permission,
} from '../api.ts';
import { CONSENT_ATTRIBUTES, CONSENT_VALUES } from '../../../src/audience/consent.ts';
import { MARKETING_ACTIONS } from '../preflight.ts';
import { splitList } from '../../../src/text/split-list.ts';
import { useApp } from '../app-context.tsx';
import { formatCount } from '../run-metrics.ts';
import { ConsentRule, ConsentScope } from '../components/consent-rule.tsx';
import { TestNotification } from '../components/alerts.tsx';
import { Empty, ErrorMessage, Field, QueryView, StatusBadge, TableScroll } from '../components/ui.tsx';

export function Settings() {
  const { api, session, addSession } = useApp();
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: [session.sandbox, 'tokens'], queryFn: () => api.listTokens() });
  const sandboxes = useQuery({
    queryKey: [session.sandbox, 'sandboxes'],
    queryFn: () => api.listSandboxes(),
  });
  const isAdmin = session.permissions.includes('Manage Sandboxes');
  const [sandbox, setSandbox] = useState(session.sandbox);
  const [newSandbox, setNewSandbox] = useState('');
  const [useError, setUseError] = useState<unknown>(null);
  const createSandbox = useMutation({
    mutationFn: () => api.createSandbox(newSandbox.trim()),
    onSuccess: async (created) => {
      setNewSandbox('');
      setSandbox(created.name);
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'sandboxes'] });
    },
  });
  const signInWith = async (token: CreatedToken) => {
    setUseError(null);
    try {
      const identity = await createApi({ token: token.token }).whoami();
      addSession({
        token: token.token,
        sandbox: identity.sandbox,
        permissions: identity.permissions,
        tokenName: identity.name,
        tokenId: identity.tokenId,
      });
    } catch (error) {
      setUseError(error);
    }
  };
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<Permission[]>(['View Destinations']);
  const [attempted, setAttempted] = useState(false);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [confirmRevoke, setConfirmRevoke] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: () =>
      api.createToken({
        name: name.trim(),
        permissions,
        ...(sandbox !== session.sandbox ? { sandbox } : {}),
      }),
    onSuccess: async (token) => {
      setCreated(token);
      setName('');
      setAttempted(false);
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.revokeToken(id),
    onSuccess: async () => {
      setConfirmRevoke(null);
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'tokens'] });
    },
  });

  const nameError = name.trim() === '' ? 'Give the token a name, such as "CDP streaming".' : null;
  const permissionError = permissions.length === 0 ? 'Choose at least one permission.' : null;

  return (
    <section className="page" aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <p className="muted">
        Sandbox <strong>{session.sandbox}</strong>. Tokens created here work in this sandbox only.
      </p>
      <h2>Sandboxes</h2>
      <QueryView query={sandboxes} label="sandboxes">
        {(list) => (
          <ul className="sandbox-list">
            {list.map((sb) => (
              <li key={sb.name}>
                <strong>{sb.name}</strong>
                {sb.current ? <span className="badge badge-info">current</span> : null}
              </li>
            ))}
          </ul>
        )}
      </QueryView>
      <p className="small muted">
        To work in another sandbox, sign in with one of its tokens through <strong>Add a sandbox…</strong> in
        the sandbox menu; the console keeps one token per sandbox for this tab.
      </p>
      {isAdmin ? (
        <form
          className="inline-add"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (newSandbox.trim() !== '') createSandbox.mutate();
          }}
        >
          <Field
            label="New sandbox name"
            hint="Lowercase letters, digits and dashes, starting with a letter."
          >
            {(props) => (
              <input
                {...props}
                type="text"
                value={newSandbox}
                onChange={(e) => setNewSandbox(e.target.value)}
              />
            )}
          </Field>
          <button
            type="submit"
            className="secondary"
            disabled={createSandbox.isPending || newSandbox.trim() === ''}
          >
            Create sandbox
          </button>
        </form>
      ) : null}
      {createSandbox.isError ? (
        <ErrorMessage error={createSandbox.error} title="The sandbox was not created" />
      ) : null}
      {isAdmin ? <InstallationAlertWebhook /> : null}
      <ProfileKeysSection />
      <DataUsagePoliciesSection />
      <FieldLabelsSection />
      <ConsentPoliciesSection />
      <PrivacyRequestSection />
      <h2>API tokens</h2>
      <form
        className="card"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setAttempted(true);
          if (!nameError && !permissionError) create.mutate();
        }}
      >
        <h3>Create a token</h3>
        <Field label="Token name" {...(attempted && nameError ? { error: nameError } : {})}>
          {(props) => <input {...props} type="text" value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        {isAdmin ? (
          <Field label="Sandbox of the token" hint="The token works in this sandbox only.">
            {(props) => (
              <select {...props} value={sandbox} onChange={(e) => setSandbox(e.target.value)}>
                {(sandboxes.data ?? [{ name: session.sandbox, createdAt: '', current: true }]).map((sb) => (
                  <option key={sb.name} value={sb.name}>
                    {sb.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        ) : null}
        <fieldset className="checkbox-grid">
          <legend>Permissions</legend>
          {PERMISSIONS.map((p) => (
            <label key={p} title={PERMISSION_DESCRIPTIONS[p]}>
              <input
                type="checkbox"
                checked={permissions.includes(p)}
                onChange={(e) =>
                  setPermissions(e.target.checked ? [...permissions, p] : permissions.filter((x) => x !== p))
                }
              />{' '}
              {p}
            </label>
          ))}
          {attempted && permissionError ? <div className="error-text">{permissionError}</div> : null}
        </fieldset>
        {create.isError ? <ErrorMessage error={create.error} title="The token was not created" /> : null}
        <div className="actions">
          <button type="submit" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
      {created ? (
        <div className="callout callout-ok" role="status">
          <p>
            Token <strong>{created.name}</strong> created. Copy it now; it is not shown again.
          </p>
          <label htmlFor="new-token">New token</label>
          <input
            id="new-token"
            type="text"
            readOnly
            value={created.token}
            onFocus={(e) => e.target.select()}
          />
          <div className="actions">
            <button type="button" className="secondary" onClick={() => void signInWith(created)}>
              Use this token in the console ({created.sandbox})
            </button>
          </div>
          {useError ? <ErrorMessage error={useError} title="Could not sign in with the new token" /> : null}
        </div>
      ) : null}
      {revoke.isError ? <ErrorMessage error={revoke.error} title="The token was not revoked" /> : null}
      <QueryView query={tokens} label="API tokens">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No tokens listed" />
          ) : (
            <TableScroll label="API tokens">
              <table>
                <caption className="visually-hidden">API tokens</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Permissions</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((t) => (
                    <tr key={t.id}>
                      <th scope="row">{t.name}</th>
                      <td className="small">{t.permissions.join(', ')}</td>
                      <td className="small">{t.createdAt ? new Date(t.createdAt).toLocaleString() : '—'}</td>
                      <td className="small">
                        {t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never'}
                      </td>
                      <td>
                        <StatusBadge status={t.revokedAt ? 'revoked' : 'active'} />
                      </td>
                      <td>
                        {t.revokedAt ? null : t.id === session.tokenId ? (
                          <span className="small muted">in use by this console</span>
                        ) : confirmRevoke === t.id ? (
                          <span className="row-actions">
                            <button
                              type="button"
                              className="danger small"
                              disabled={revoke.isPending}
                              onClick={() => revoke.mutate(t.id)}
                            >
                              Confirm revoke
                            </button>
                            <button
                              type="button"
                              className="secondary small"
                              onClick={() => setConfirmRevoke(null)}
                            >
                              Cancel
                            </button>
                          </span>
                        ) : (
                          <button
                            type="button"
                            className="secondary small"
                            onClick={() => setConfirmRevoke(t.id)}
                          >
                            Revoke<span className="visually-hidden"> {t.name}</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )
        }
      </QueryView>
      <AuditTrailSection />
    </section>
  );
}

const AUDIT_PAGE = 50;

/**
 * The service's settings as an administrator sees them (the audit push and the egress proxy), refreshed as the
 * collector takes the trail.
 */
function useAdminSettings() {
  const { api } = useApp();
  return useQuery({
    queryKey: ['settings', 'admin'],
    queryFn: () => api.settings(),
    refetchInterval: 10_000,
  });
}

/** The proxy the service's outbound requests go through (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), for administrators. */
function OutboundProxyStatus() {
  const proxy = useAdminSettings().data?.outboundProxy;
  if (proxy === undefined) return null;
  if (proxy === null)
    return (
      <p className="muted" data-testid="outbound-proxy">
        Outbound requests (X, the SIEM, webhooks) connect directly: set <code>HTTPS_PROXY</code> to send them
        through a proxy.
      </p>
    );
  const via =
    proxy.https === proxy.http
      ? [`${proxy.https ?? ''} (http and https)`]
      : [...(proxy.https ? [`${proxy.https} (https)`] : []), ...(proxy.http ? [`${proxy.http} (http)`] : [])];
  return (
    <p data-testid="outbound-proxy">
      Outbound requests go through{' '}
      {via.map((v, i) => (
        <Fragment key={v}>
          {i > 0 ? ' and ' : ''}
          <code>{v}</code>
        </Fragment>
      ))}
      ; directly to loopback{proxy.noProxy.length > 0 ? ` and ${proxy.noProxy.join(', ')}` : ''}.
    </p>
  );
}

/** The origins URL imports may read (TCA_IMPORT_URL_ALLOW), for administrators. */
function ImportUrlsStatus() {
  const settings = useAdminSettings().data;
  if (settings?.outboundProxy === undefined) return null;
  const origins = settings.importUrls?.origins ?? [];
  return origins.length === 0 ? (
    <p className="muted" data-testid="import-urls">
      Imports from a URL are off: set <code>TCA_IMPORT_URL_ALLOW</code> to the origins the service may read (
      <code>https://*.s3.amazonaws.com</code>, say).
    </p>
  ) : (
    <p data-testid="import-urls">
      Imports from a URL may read <code>{origins.join(', ')}</code> (and redirects within them), nothing else.
    </p>
  );
}

/**
 * The installation's alert webhook (TCA_ALERT_WEBHOOK_URL), which every sandbox's alerts go to, and a test
 * notification sent to it on request, for administrators.
 */
function InstallationAlertWebhook() {
  const { api } = useApp();
  const settings = useAdminSettings().data;
  const hook = settings?.alertWebhook;
  const pagerDuty = settings?.alertPagerDuty;
  const email = settings?.alertEmail;
  if (hook === undefined) return null;
  return (
    <div data-testid="installation-alert-webhook">
      <h3>Alert webhook of the installation</h3>
      {pagerDuty ? (
        // Alerts also go to PagerDuty: where, and a test incident (triggered and resolved) on request.
        <TestNotification
          testId="pagerduty"
          label="Send test incident"
          send={() => api.testPagerDuty()}
          accepted={(error) =>
            `PagerDuty accepted the test incident${error ? `; but ${error}` : ', now resolved'}`
          }
          errorTitle="The test incident could not be sent"
        >
          <p>
            Every alert also triggers a PagerDuty incident (Events API v2 at <code>{pagerDuty.events}</code>),
            resolved with the alert.
          </p>
        </TestNotification>
      ) : null}
      {email && email.to.length === 0 ? (
        <p>
          Alerts are emailed through <SmtpServer email={email} /> to the recipients each connection names
          (none of the installation&apos;s: set <code>TCA_ALERT_EMAIL_TO</code> to email every alert to one
          list too).
        </p>
      ) : email ? (
        // Alerts are also emailed: to whom, through which server, and a test email on request.
        <TestNotification
          testId="alert-email"
          label="Send test email"
          send={() => api.testAlertEmail()}
          accepted={() => `The SMTP server accepted the test email to ${email.to.join(', ')}`}
          errorTitle="The test email could not be sent"
        >
          <p>
            Every alert is also emailed to {email.to.join(', ')} through <SmtpServer email={email} />.
          </p>
        </TestNotification>
      ) : null}
      {hook === null ? (
        <p className="muted">
          None: alerts go only to each connection&apos;s own webhook. Set <code>TCA_ALERT_WEBHOOK_URL</code>{' '}
          to send every sandbox&apos;s alerts to one place too.
        </p>
      ) : (
        <TestNotification
          testId="installation-webhook"
          label="Send test alert"
          send={() => api.testInstallationAlert()}
          accepted={() => "Delivered to the installation's webhook"}
          errorTitle="The test alert could not be sent"
        >
          <p>
            Every sandbox&apos;s alerts also go to <code>{hook.origin}</code>
            {hook.format && hook.format !== 'json' ? ` as ${WEBHOOK_FORMATS[hook.format].name} messages` : ''}
            {hook.signed
              ? ', signed (x-tca-signature)'
              : ', unsigned (set TCA_ALERT_WEBHOOK_SECRET to sign them)'}
            .
          </p>
        </TestNotification>
      )}
    </div>
  );
}

/** Whether the service pushes the trail to a SIEM (TCA_AUDIT_FORWARD_URL), and how far the collector has taken it. */
function AuditForwardStatus() {
  const forward = useAdminSettings().data?.auditForward;
  if (forward === undefined) return null;
  if (forward === null)
    return (
      <p className="muted" data-testid="audit-forward">
        Not pushed to a SIEM: set <code>TCA_AUDIT_FORWARD_URL</code> to have workers send every event to its
        HTTP input.
      </p>
    );
  const format = forward.format === 'splunk' ? 'Splunk HTTP Event Collector' : 'NDJSON';
  return (
    <p data-testid="audit-forward">
      Pushed to <code>{forward.collector}</code> ({format}):{' '}
      {forward.forwardedThrough === null
        ? 'nothing acknowledged yet'
        : `acknowledged through ${new Date(forward.forwardedThrough).toLocaleString()}`}
      {forward.waiting > 0 ? `, ${forward.waiting.toLocaleString()} waiting` : ', nothing waiting'}.
    </p>
  );
}

/** The latest changes made through the API (by anyone with a token), newest first, a page at a time. */
function AuditTrailSection() {
  const { api, session } = useApp();
  const isAdmin = session.permissions.includes('Manage Sandboxes');
  const [everySandbox, setEverySandbox] = useState(false);
  const events = useInfiniteQuery({
    queryKey: [session.sandbox, 'audit-events', everySandbox],
    queryFn: ({ pageParam }) => api.auditEvents(AUDIT_PAGE, pageParam, everySandbox),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const items = events.data?.pages.flatMap((p) => p.items);
  return (
    <>
      <h2>Audit trail</h2>
      <p className="muted">
        Every change made through the API or this console, and every one refused for a permission: who (the
        token), when, what. Only the names of the fields sent are kept, never their values. Kept 400 days;
        also <code>tca audit</code> and <code>GET /api/v1/audit-events</code>, and for a SIEM{' '}
        <code>tca audit --follow</code> or <code>GET /api/v1/audit-events/feed</code>.
      </p>
      <AuditForwardStatus />
      <OutboundProxyStatus />
      <ImportUrlsStatus />
      {isAdmin ? (
        <label className="checkbox">
          <input type="checkbox" checked={everySandbox} onChange={(e) => setEverySandbox(e.target.checked)} />{' '}
          Every sandbox
        </label>
      ) : null}
      <QueryView query={{ ...events, data: items }} label="the audit trail">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No changes recorded yet" />
          ) : (
            <TableScroll label="Audit trail">
              <table>
                <caption className="visually-hidden">Audit trail</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    {everySandbox ? <th scope="col">Sandbox</th> : null}
                    <th scope="col">Token</th>
                    <th scope="col">Change</th>
                    <th scope="col">Object</th>
                    <th scope="col">Status</th>
                    <th scope="col">Fields sent</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((e) => (
                    <tr key={e.id}>
                      <td className="small">{new Date(e.at).toLocaleString()}</td>
                      {everySandbox ? <td>{e.sandbox}</td> : null}
                      <td>{e.token.name}</td>
                      <td>
                        {e.action}
                        <div className="small muted">
                          <code>
                            {e.method} {e.route}
                          </code>
                        </div>
                      </td>
                      <td className="small">{e.target ? <code>{e.target}</code> : '—'}</td>
                      <td>
                        <StatusBadge status={e.status === 403 ? 'refused' : 'done'} />{' '}
                        <span className="small muted">{e.status}</span>
                      </td>
                      <td className="small">{e.fields.length > 0 ? e.fields.join(', ') : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )
        }
      </QueryView>
      {events.hasNextPage ? (
        <div className="actions">
          <button
            type="button"
            className="secondary"
            disabled={events.isFetchingNextPage}
            onClick={() => void events.fetchNextPage()}
          >
            {events.isFetchingNextPage ? 'Loading…' : 'Show older changes'}
          </button>
        </div>
      ) : null}
    </>
  );
}

/** The sandbox's profile key namespaces, one query for every section that shows them. */
function useProfileKeys() {
  const { api, session } = useApp();
  return useQuery({ queryKey: [session.sandbox, 'profile-keys'], queryFn: () => api.profileKeys() });
}

/**
 * How the sandbox keys its profiles: shown always, set freely until the sandbox holds profiles, then changed by
 * re-keying them (each takes its new key when it next arrives), with the re-keying's progress and its end.
 */
function ProfileKeysSection() {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const keys = useProfileKeys();
  const mayChange = session.permissions.includes('Activate Destinations');
  const [draft, setDraft] = useState<string | null>(null);
  const [rekeying, setRekeying] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: [session.sandbox, 'profile-keys'] });
  const save = useMutation({
    mutationFn: ({ namespaces, rekey }: { namespaces: string[] | null; rekey: boolean }) =>
      api.setProfileKeys(namespaces, rekey),
    onSuccess: async () => {
      setDraft(null);
      setRekeying(false);
      await refresh();
    },
  });
  const finish = useMutation({
    mutationFn: (removeRemaining: boolean) => api.finishRekey(removeRemaining),
    onSuccess: async () => {
      setConfirmRemove(false);
      await refresh();
    },
  });
  return (
    <>
      <h2>Profile keys</h2>
      <QueryView query={keys} label="the profile keys">
        {(current) => {
          const form = (rekey: boolean) => (
            <form
              noValidate
              onSubmit={(e) => {
                e.preventDefault();
                const namespaces = splitList(draft ?? '');
                if (namespaces.length > 0) save.mutate({ namespaces, rekey });
              }}
            >
              <Field
                label="Profile key namespaces"
                hint={
                  rekey
                    ? 'The new ones, in order of preference, separated by commas, e.g. CRMID, ECID.'
                    : 'In order of preference, separated by commas, e.g. CustomerID, ECID. Changing them later re-keys the profiles.'
                }
              >
                {(props) => (
                  <input
                    {...props}
                    type="text"
                    value={draft ?? current.namespaces.join(', ')}
                    onChange={(e) => setDraft(e.target.value)}
                  />
                )}
              </Field>
              <div className="actions">
                {rekey ? (
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => {
                      setRekeying(false);
                      setDraft(null);
                    }}
                  >
                    Cancel
                  </button>
                ) : null}
                {!current.isDefault ? (
                  <button
                    type="button"
                    className="secondary"
                    disabled={save.isPending}
                    onClick={() => save.mutate({ namespaces: null, rekey })}
                  >
                    {rekey ? 'Re-key to the default' : 'Use the default'}
                  </button>
                ) : null}
                <button
                  type="submit"
                  disabled={save.isPending || draft === null || splitList(draft).length === 0}
                >
                  {rekey ? 'Re-key profiles' : 'Save profile keys'}
                </button>
              </div>
            </form>
          );
          return (
            <div className="card">
              <p>
                A profile is keyed by the first of these identity namespaces it has:{' '}
                <strong data-testid="profile-key-namespaces">{current.namespaces.join(', ')}</strong>
                {current.isDefault ? <span className="muted"> (the default)</span> : null}. Its exports are
                tied together by that key, so a changed email replaces the old one at X.
              </p>
              {current.mergesAcrossNamespaces ? (
                <p className="muted" data-testid="profile-key-merges">
                  Some profiles are keyed by a later namespace (a CRM id met before any ECID, say): an export
                  that names ids of several of these namespaces speaks for the segments it states in place of
                  the profiles they key, so the person's exit reaches X.
                </p>
              ) : null}
              {current.rekey ? (
                <div className="callout" role="status" data-testid="rekey-progress">
                  <p>
                    Re-keying from <strong>{current.rekey.from.join(', ')}</strong> since{' '}
                    {new Date(current.rekey.since).toLocaleString()}:{' '}
                    <strong>{formatCount(current.rekey.remaining)}</strong> profiles not met under the new
                    keys yet. Each takes its new key when it next arrives, found by the key it had before; a
                    full export from the source moves them all.
                  </p>
                  {mayChange ? (
                    <div className="actions">
                      <button
                        type="button"
                        className="secondary"
                        disabled={finish.isPending}
                        onClick={() => finish.mutate(false)}
                      >
                        End re-keying, keep the rest
                      </button>
                      {confirmRemove ? (
                        <>
                          <button
                            type="button"
                            className="danger"
                            disabled={finish.isPending}
                            onClick={() => finish.mutate(true)}
                          >
                            Confirm: remove {formatCount(current.rekey.remaining)} profiles from X
                          </button>
                          <button type="button" className="secondary" onClick={() => setConfirmRemove(false)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <button
                          type="button"
                          className="danger"
                          disabled={finish.isPending}
                          onClick={() => setConfirmRemove(true)}
                        >
                          End re-keying, remove the rest…
                        </button>
                      )}
                    </div>
                  ) : null}
                </div>
              ) : current.fixed ? (
                <>
                  <p className="muted">
                    Fixed: this sandbox holds profiles keyed this way. Changing the namespaces re-keys them:
                    each profile takes its new key when it next arrives, and ending the re-keying can remove
                    those never met again.
                  </p>
                  {mayChange && rekeying ? form(true) : null}
                  {mayChange && !rekeying ? (
                    <div className="actions">
                      <button type="button" className="secondary" onClick={() => setRekeying(true)}>
                        Re-key profiles…
                      </button>
                    </div>
                  ) : null}
                </>
              ) : !mayChange ? (
                <p className="muted">A token with Activate Destinations can change them.</p>
              ) : (
                form(false)
              )}
              {save.isError ? (
                <ErrorMessage error={save.error} title="The profile keys were not changed" />
              ) : null}
              {finish.isError ? (
                <ErrorMessage error={finish.error} title="The re-keying did not end" />
              ) : null}
              {finish.isSuccess ? (
                <p className="small" role="status">
                  Re-keying ended: {formatCount(finish.data.removedProfiles)} profiles left every audience (
                  {formatCount(finish.data.removedMemberships)} memberships, removed from X by the next
                  delivery).
                </p>
              ) : null}
            </div>
          );
        }}
      </QueryView>
    </>
  );
}

/** Data-usage labels on the fields mappings export: listed, added and removed (the whole set is saved each time). */
function FieldLabelsSection() {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const fields = useQuery({ queryKey: [session.sandbox, 'field-labels'], queryFn: () => api.fieldLabels() });
  const mayChange = session.permissions.includes('Activate Destinations');
  const [sourceType, setSourceType] = useState<FieldLabel['sourceType']>('namespace');
  const [source, setSource] = useState('');
  const [labels, setLabels] = useState('');
  const save = useMutation({
    mutationFn: (next: FieldLabel[]) => api.setFieldLabels(next),
    onSuccess: async () => {
      setSource('');
      setLabels('');
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'field-labels'] });
    },
  });
  const labelList = splitList(labels);
  return (
    <>
      <h2>Field labels</h2>
      <QueryView query={fields} label="the field labels">
        {({ fields: current }) => (
          <div className="card">
            <p>
              Labels on the fields a mapping exports. A dataflow that exports a labelled field is checked
              against the data-usage policies like a labelled segment: when it is created, when its mapping or
              its destination&apos;s marketing actions change, and when these labels change.
            </p>
            {current.length === 0 ? (
              <Empty title="No labelled field">
                Only segment labels are checked until a field is labelled.
              </Empty>
            ) : (
              <TableScroll label="Field labels">
                <table aria-label="Field labels">
                  <thead>
                    <tr>
                      <th scope="col">Field</th>
                      <th scope="col">Labels</th>
                      {mayChange ? (
                        <th scope="col">
                          <span className="visually-hidden">Actions</span>
                        </th>
                      ) : null}
                    </tr>
                  </thead>
                  <tbody>
                    {current.map((f) => (
                      <tr key={`${f.sourceType}:${f.source}`} data-testid="field-label">
                        <td>
                          <span className="muted">{f.sourceType}</span> <code>{f.source}</code>
                        </td>
                        <td>{f.labels.join(', ')}</td>
                        {mayChange ? (
                          <td className="actions">
                            <button
                              type="button"
                              className="secondary"
                              disabled={save.isPending}
                              onClick={() => save.mutate(current.filter((g) => g !== f))}
                            >
                              Remove
                            </button>
                          </td>
                        ) : null}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
            {mayChange ? (
              <form
                noValidate
                onSubmit={(e) => {
                  e.preventDefault();
                  save.mutate([...current, { sourceType, source: source.trim(), labels: labelList }]);
                }}
              >
                <Field label="Field kind">
                  {(props) => (
                    <select
                      {...props}
                      value={sourceType}
                      onChange={(e) => setSourceType(e.target.value as FieldLabel['sourceType'])}
                    >
                      <option value="namespace">Identity namespace</option>
                      <option value="attribute">Attribute path</option>
                    </select>
                  )}
                </Field>
                <Field label="Field" hint="A namespace such as Email, or a path such as loyalty.score">
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={source}
                      onChange={(e) => setSource(e.target.value)}
                    />
                  )}
                </Field>
                <Field
                  label="Its labels"
                  hint="Separated by commas: C1–C12, I1, I2, S1, S2, PSPD, RHD or your own."
                >
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={labels}
                      onChange={(e) => setLabels(e.target.value)}
                    />
                  )}
                </Field>
                <div className="actions">
                  <button
                    type="submit"
                    disabled={save.isPending || source.trim() === '' || labelList.length === 0}
                  >
                    Label field
                  </button>
                </div>
              </form>
            ) : (
              <p className="muted">A token with Activate Destinations can change them.</p>
            )}
            {save.isError ? (
              <ErrorMessage error={save.error} title="The field labels were not changed" />
            ) : null}
          </div>
        )}
      </QueryView>
    </>
  );
}

/** The sandbox's consent policies: listed, switched on and off, added and removed (the whole set is saved each time). */
function ConsentPoliciesSection() {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const policies = useQuery({
    queryKey: [session.sandbox, 'consent-policies'],
    queryFn: () => api.consentPolicies(),
  });
  // What each policy would leave out of the profiles known now, AEP's "estimated share of allowed profiles".
  const preview = useQuery({
    queryKey: [session.sandbox, 'consent-preview', 'all'],
    queryFn: () => api.consentPreview(),
  });
  const leftOut = (policyId: string) => {
    const all = preview.data?.all;
    const denied = all?.denied.find((d) => d.policyId === policyId);
    if (!all || !denied || all.profiles === 0) return null;
    return `${formatCount(denied.profiles)} of ${formatCount(all.profiles)} known profiles (${Math.round((denied.profiles / all.profiles) * 100)}%)`;
  };
  const mayChange = session.permissions.includes('Activate Destinations');
  const [name, setName] = useState('');
  const [action, setAction] = useState<string>(MARKETING_ACTIONS[0]);
  // Data-usage labels the policy applies through ('' = none), and how they join the marketing action.
  const [labels, setLabels] = useState('');
  const [operator, setOperator] = useState<'and' | 'or'>('and');
  const [attribute, setAttribute] = useState<string>('consents.share.val');
  const [allowed, setAllowed] = useState('y');
  // One alternative from here ('' = none); the API takes up to five.
  const [orAttribute, setOrAttribute] = useState('');
  const [orAllowed, setOrAllowed] = useState('y');
  const [switchOn, setSwitchOn] = useState(false);
  const save = useMutation({
    mutationFn: (next: ConsentPolicyInput[]) => api.setConsentPolicies(next),
    onSuccess: async () => {
      setName('');
      setOrAttribute('');
      setLabels('');
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'consent-policies'] });
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'consent-preview'] });
    },
  });
  const values = splitList(allowed);
  const orValues = splitList(orAllowed);
  const labelList = splitList(labels);
  return (
    <>
      <h2>Consent policies</h2>
      <QueryView query={policies} label="the consent policies">
        {(current: ConsentPolicy[]) => (
          <div className="card">
            <p>
              A profile is exported to a destination used for a policy's marketing action only when its
              consent attribute holds an allowed value (no value: no consent), or an alternative does, and it
              passes every policy that applies. Members who withdraw consent are removed from the X audience;
              a change here evaluates every audience again. New policies start switched off: the consent
              preview of an activation shows what one would leave out before you switch it on.
            </p>
            {current.length === 0 ? (
              <Empty title="No consent policy">Consent restricts nothing until a policy is added.</Empty>
            ) : (
              <TableScroll label="Consent policies">
                <table aria-label="Consent policies">
                  <thead>
                    <tr>
                      <th scope="col">Policy</th>
                      <th scope="col">If</th>
                      <th scope="col">Then export only when</th>
                      <th scope="col">Would leave out</th>
                      <th scope="col">Status</th>
                      {mayChange ? (
                        <th scope="col">
                          <span className="visually-hidden">Actions</span>
                        </th>
                      ) : null}
                    </tr>
                  </thead>
                  <tbody>
                    {current.map((p) => (
                      <tr key={p.id} data-testid="consent-policy">
                        <PolicyNameCell
                          policy={p}
                          policies={current}
                          mayChange={mayChange}
                          saving={save.isPending}
                          save={save.mutate}
                        />
                        <td>
                          <ConsentScope policy={p} />
                        </td>
                        <td>
                          <ConsentRule policy={p} />
                        </td>
                        <td>{leftOut(p.id) ?? <span className="muted">no profiles yet</span>}</td>
                        <PolicySwitchCells
                          policy={p}
                          policies={current}
                          mayChange={mayChange}
                          saving={save.isPending}
                          save={save.mutate}
                        />
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
            {mayChange ? (
              <form
                noValidate
                onSubmit={(e) => {
                  e.preventDefault();
                  save.mutate([
                    ...current,
                    {
                      name: name.trim(),
                      marketingActions: action === '' ? [] : [action],
                      labels: labelList,
                      operator,
                      attribute,
                      allowedValues: values,
                      alternatives:
                        orAttribute === '' ? [] : [{ attribute: orAttribute, allowedValues: orValues }],
                      enabled: switchOn,
                    },
                  ]);
                }}
              >
                <Field label="Consent policy name">
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={name}
                      placeholder="Ads need sharing consent"
                      onChange={(e) => setName(e.target.value)}
                    />
                  )}
                </Field>
                <Field label="If the destination is used for">
                  {(props) => (
                    <select {...props} value={action} onChange={(e) => setAction(e.target.value)}>
                      <option value="">(any marketing action: labels decide)</option>
                      {MARKETING_ACTIONS.map((a) => (
                        <option key={a}>{a}</option>
                      ))}
                    </select>
                  )}
                </Field>
                <Field
                  label="If the data is labelled"
                  hint="Optional, separated by commas: data-usage labels of the segment or of a mapped field (C5, C9, …)"
                >
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={labels}
                      placeholder="C9"
                      onChange={(e) => setLabels(e.target.value)}
                    />
                  )}
                </Field>
                {action !== '' && labelList.length > 0 ? (
                  <Field label="The policy applies when">
                    {(props) => (
                      <select
                        {...props}
                        value={operator}
                        onChange={(e) => setOperator(e.target.value === 'or' ? 'or' : 'and')}
                      >
                        <option value="and">both the marketing action and a label match</option>
                        <option value="or">either one matches</option>
                      </select>
                    )}
                  </Field>
                ) : null}
                <Field label="Then the consent attribute">
                  {(props) => (
                    <select {...props} value={attribute} onChange={(e) => setAttribute(e.target.value)}>
                      {CONSENT_ATTRIBUTES.map((a) => (
                        <option key={a}>{a}</option>
                      ))}
                    </select>
                  )}
                </Field>
                <Field
                  label="Must hold one of"
                  hint={`Separated by commas: ${CONSENT_VALUES.join(', ')} (y = yes, dy = default yes, LI = legitimate interest…)`}
                >
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={allowed}
                      onChange={(e) => setAllowed(e.target.value)}
                    />
                  )}
                </Field>
                <Field
                  label="Or else the consent attribute"
                  hint="Optional: a profile passes when either holds"
                >
                  {(props) => (
                    <select {...props} value={orAttribute} onChange={(e) => setOrAttribute(e.target.value)}>
                      <option value="">(no alternative)</option>
                      {CONSENT_ATTRIBUTES.map((a) => (
                        <option key={a}>{a}</option>
                      ))}
                    </select>
                  )}
                </Field>
                {orAttribute === '' ? null : (
                  <Field label="Holds one of" hint="Separated by commas">
                    {(props) => (
                      <input
                        {...props}
                        type="text"
                        value={orAllowed}
                        onChange={(e) => setOrAllowed(e.target.value)}
                      />
                    )}
                  </Field>
                )}
                <label className="checkbox">
                  <input type="checkbox" checked={switchOn} onChange={(e) => setSwitchOn(e.target.checked)} />{' '}
                  Switch it on now (members without this consent leave the X audiences at once)
                </label>
                <div className="actions">
                  <button
                    type="submit"
                    disabled={
                      save.isPending ||
                      name.trim() === '' ||
                      (action === '' && labelList.length === 0) ||
                      values.length === 0 ||
                      (orAttribute !== '' && orValues.length === 0)
                    }
                  >
                    Add consent policy
                  </button>
                </div>
              </form>
            ) : (
              <p className="muted">A token with Activate Destinations can change them.</p>
            )}
            {save.isError ? (
              <ErrorMessage error={save.error} title="The consent policies were not changed" />
            ) : null}
          </div>
        )}
      </QueryView>
    </>
  );
}

/** The data-usage policies: the core ones, read-only, and the sandbox's own, added, switched and removed here. */
function DataUsagePoliciesSection() {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const policies = useQuery({
    queryKey: [session.sandbox, 'data-usage-policies'],
    queryFn: () => api.dataUsagePolicies(),
  });
  const mayChange = session.permissions.includes('Activate Destinations');
  const [name, setName] = useState('');
  const [action, setAction] = useState<string>(MARKETING_ACTIONS[0]);
  const [labels, setLabels] = useState('');
  const save = useMutation({
    mutationFn: (next: CustomPolicyInput[]) => api.setDataUsagePolicies(next),
    onSuccess: async () => {
      setName('');
      setLabels('');
      await queryClient.invalidateQueries({ queryKey: [session.sandbox, 'data-usage-policies'] });
    },
  });
  const labelList = splitList(labels);
  return (
    <>
      <h2>Data-usage policies</h2>
      <QueryView query={policies} label="the data-usage policies">
        {(current: DataUsagePolicies) => (
          <div className="card">
            <p>
              Each policy forbids a marketing action on segments with certain labels. Activations, and label
              or marketing-action changes, that break one are refused with what to change.
            </p>
            <TableScroll label="Data-usage policies">
              <table aria-label="Data-usage policies">
                <thead>
                  <tr>
                    <th scope="col">Policy</th>
                    <th scope="col">Forbids</th>
                    <th scope="col">On segments labelled</th>
                    <th scope="col">Status</th>
                    {mayChange ? (
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    ) : null}
                  </tr>
                </thead>
                <tbody>
                  {current.core.map((p) => (
                    <tr key={p.name}>
                      <td>{p.name}</td>
                      <td>{p.action ?? 'every activation to X'}</td>
                      <td>{p.labels.join(', ')}</td>
                      <td>
                        <span className="muted">core</span>
                      </td>
                      {mayChange ? <td /> : null}
                    </tr>
                  ))}
                  {current.custom.map((p) => (
                    <tr key={p.id} data-testid="own-policy">
                      <PolicyNameCell
                        policy={p}
                        policies={current.custom}
                        mayChange={mayChange}
                        saving={save.isPending}
                        save={save.mutate}
                      />
                      <td>{p.action}</td>
                      <td>{p.labels.join(', ')}</td>
                      <PolicySwitchCells
                        policy={p}
                        policies={current.custom}
                        mayChange={mayChange}
                        saving={save.isPending}
                        save={save.mutate}
                      />
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
            {mayChange ? (
              <form
                noValidate
                onSubmit={(e) => {
                  e.preventDefault();
                  save.mutate([...current.custom, { name: name.trim(), action, labels: labelList }]);
                }}
              >
                <Field label="Data-usage policy name">
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={name}
                      placeholder="Scores stay out of targeting"
                      onChange={(e) => setName(e.target.value)}
                    />
                  )}
                </Field>
                <Field label="Forbids the marketing action">
                  {(props) => (
                    <select {...props} value={action} onChange={(e) => setAction(e.target.value)}>
                      {MARKETING_ACTIONS.map((a) => (
                        <option key={a}>{a}</option>
                      ))}
                    </select>
                  )}
                </Field>
                <Field
                  label="On segments labelled"
                  hint="Separated by commas: C1–C12, I1, I2, S1, S2, PSPD, RHD or your own."
                >
                  {(props) => (
                    <input
                      {...props}
                      type="text"
                      value={labels}
                      onChange={(e) => setLabels(e.target.value)}
                    />
                  )}
                </Field>
                <div className="actions">
                  <button
                    type="submit"
                    disabled={save.isPending || name.trim() === '' || labelList.length === 0}
                  >
                    Add data-usage policy
                  </button>
                </div>
              </form>
            ) : (
              <p className="muted">A token with Activate Destinations can add policies.</p>
            )}
            {save.isError ? <ErrorMessage error={save.error} title="The policies were not changed" /> : null}
          </div>
        )}
      </QueryView>
    </>
  );
}

/**
 * A policy's status cell and, for a token that may change policies, its Switch and Remove buttons: each saves the whole
 * set with that one policy changed.
 */
function PolicySwitchCells<P extends { id: string; enabled: boolean }>({
  policy,
  policies,
  mayChange,
  saving,
  save,
}: {
  policy: P;
  policies: readonly P[];
  mayChange: boolean;
  saving: boolean;
  save: (next: P[]) => void;
}) {
  return (
    <>
      <td>
        <StatusBadge status={policy.enabled ? 'enabled' : 'disabled'} />
      </td>
      {mayChange ? (
        <td className="actions">
          <button
            type="button"
            className="secondary"
            disabled={saving}
            onClick={() =>
              save(policies.map((q) => (q.id === policy.id ? { ...q, enabled: !q.enabled } : q)))
            }
          >
            {policy.enabled ? 'Switch off' : 'Switch on'}
          </button>
          <button
            type="button"
            className="secondary"
            disabled={saving}
            onClick={() => save(policies.filter((q) => q.id !== policy.id))}
          >
            Remove
          </button>
        </td>
      ) : null}
    </>
  );
}

/** A policy's name, renamed in place (the whole set is saved with it). */
function PolicyNameCell<P extends { id: string; name: string }>({
  policy,
  policies,
  mayChange,
  saving,
  save,
}: {
  policy: P;
  policies: readonly P[];
  mayChange: boolean;
  saving: boolean;
  save: (next: P[]) => void;
}) {
  const [draft, setDraft] = useState<string | null>(null);
  if (draft === null)
    return (
      <td>
        {policy.name}
        {mayChange ? (
          <>
            {' '}
            <button
              type="button"
              className="link-button"
              aria-label={`Rename ${policy.name}`}
              disabled={saving}
              onClick={() => setDraft(policy.name)}
            >
              Rename
            </button>
          </>
        ) : null}
      </td>
    );
  return (
    <td>
      <form
        className="inline-rename"
        onSubmit={(e) => {
          e.preventDefault();
          save(policies.map((q) => (q.id === policy.id ? { ...q, name: draft.trim() } : q)));
          setDraft(null);
        }}
      >
        <input
          type="text"
          aria-label={`New name of ${policy.name}`}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit" disabled={saving || draft.trim() === ''}>
          Save
        </button>
        <button type="button" className="secondary" onClick={() => setDraft(null)}>
          Cancel
        </button>
      </form>
    </td>
  );
}

/**
 * A privacy request: erases the profiles named by identities (in a profile key namespace, or one a mapping reads) from
 * every audience and from storage.
 */
function PrivacyRequestSection() {
  const { api, session } = useApp();
  const queryClient = useQueryClient();
  const keys = useProfileKeys();
  const mayErase = session.permissions.includes('Ingest Profiles');
  // Null until chosen: the first profile key namespace.
  const [namespace, setNamespace] = useState<string | null>(null);
  const [ids, setIds] = useState('');
  const erase = useMutation({
    mutationFn: (identities: Array<{ namespace: string; id: string }>) => api.erase(identities),
    onSuccess: async () => {
      setIds('');
      await queryClient.invalidateQueries({ queryKey: [session.sandbox] });
    },
  });
  // While the sandbox is re-keyed, people are also named by the namespaces before.
  const namespaces = [...new Set([...(keys.data?.namespaces ?? []), ...(keys.data?.rekey?.from ?? [])])];
  const chosen = namespace ?? namespaces[0] ?? '';
  // One id per line: ids may hold commas.
  const idList = ids
    .split('\n')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (!mayErase) return null;
  return (
    <>
      <h2>Privacy requests</h2>
      <form
        className="card"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          erase.mutate(idList.map((id) => ({ namespace: chosen.trim(), id })));
        }}
      >
        <p>
          Erase people who asked to be forgotten: each profile named here leaves every X audience with the
          next delivery, and its stored state (hashed identifiers, segments, consent) is deleted. Name them by
          a profile key identity, or by an identity a mapping reads (an email is matched on the hash stored).
        </p>
        <Field
          label="Identity namespace"
          hint={`A profile key namespace (${namespaces.join(', ')}) or one a mapping reads (Email, Phone_E.164…)`}
        >
          {(props) => (
            <input
              {...props}
              type="text"
              value={chosen}
              list="erasure-namespaces"
              onChange={(e) => setNamespace(e.target.value)}
            />
          )}
        </Field>
        <datalist id="erasure-namespaces">
          {[...namespaces, 'Email', 'Phone_E.164'].map((ns) => (
            <option key={ns} value={ns} />
          ))}
        </datalist>
        <Field label="Ids to erase" hint="One per line, as the profile exports carry them">
          {(props) => <textarea {...props} rows={3} value={ids} onChange={(e) => setIds(e.target.value)} />}
        </Field>
        <div className="actions">
          <button
            type="submit"
            className="danger"
            disabled={erase.isPending || idList.length === 0 || chosen.trim() === ''}
          >
            Erase {idList.length === 1 ? 'profile' : 'profiles'}
          </button>
        </div>
        {erase.isError ? <ErrorMessage error={erase.error} title="Nothing was erased" /> : null}
        {erase.data ? (
          <p className="callout callout-ok" role="status" data-testid="erasure-result">
            Erased {formatCount(erase.data.profiles)} profile(s); {formatCount(erase.data.audiences)} audience
            membership(s) leave X with the next delivery; {formatCount(erase.data.notFound)} id(s) matched no
            profile.
          </p>
        ) : null}
      </form>
    </>
  );
}

/** The SMTP server alert emails go through, and the egress proxy that reaches it when there is one. */
function SmtpServer({ email }: { email: { smtp: string; proxy: string | null } }) {
  return (
    <>
      <code>{email.smtp}</code>
      {email.proxy ? (
        <>
          {' '}
          (via the egress proxy <code>{email.proxy}</code>)
        </>
      ) : null}
    </>
  );
}
