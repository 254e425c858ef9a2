import { createHash } from 'node:crypto';
import { splitList } from '../text/split-list.ts';
import * as S from './schemas.ts';
import { RUN_FILTERS } from './run-filters.ts';
import { mediaType, route, type Route } from './route-def.ts';
import type { Checked } from './backend.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from './api-error.ts';

const V1 = '/api/v1';
/** The 409 of a destination moved to another ads account (PATCH, or verify with a new account). */
const ACCOUNT_IN_USE =
  '`account_in_use`: a new accountId while activated audiences have their X audience in the current account (details name them)';

/** A page read with a cursor from the query, or the 400 that says the cursor is not one this API gave. */
function validCursor<T>(page: Checked<T>): T {
  if (page.ok) return page.value;
  throw badRequest(
    'The cursor is not valid',
    page.problems.map((p) => ({ ...p, path: `query.${p.path}` })),
    'validation_failed',
  );
}

/** The request's Idempotency-Key (null without one), or a 400 when it is not 1–200 characters. */
function idempotencyKey(headers: Headers): string | null {
  const key = headers.get('idempotency-key');
  if (key !== null && (key.length === 0 || key.length > 200)) {
    throw badRequest('Idempotency-Key must be 1–200 characters', [
      { path: 'idempotency-key', reason: 'bad length' },
    ]);
  }
  return key;
}

/**
 * The file name an upload's `Content-Disposition` gives (`attachment; filename*=UTF-8''members.csv`, or
 * `filename="members.csv"`), for messages and reports to name the file by; null without one. Only its last path
 * segment, without control characters, at most 200 characters.
 */
export function uploadFileName(headers: Headers): string | null {
  const value = headers.get('content-disposition');
  if (value === null) return null;
  const extended = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(value)?.[1];
  let name: string | undefined;
  if (extended !== undefined)
    try {
      name = decodeURIComponent(extended.trim());
    } catch {
      name = undefined;
    }
  name ??= /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i
    .exec(value)
    ?.slice(1)
    .find((v) => v !== undefined);
  if (name === undefined) return null;
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return base === '' ? null : base.slice(0, 200);
}

/** The sandbox whose audit events a request reads: the token's, or every one (null) for an admin who asks. */
function auditScope(
  principal: { sandboxId: string; permissions: readonly string[] },
  all: boolean,
): string | null {
  if (!all) return principal.sandboxId;
  if (!principal.permissions.includes('Manage Sandboxes')) throw forbidden('Manage Sandboxes');
  return null;
}

function found<T>(value: T | undefined, what: string, id: string): T {
  if (value === undefined) throw notFound(what, id);
  return value;
}

function valid<T>(result: Checked<T> | undefined, what: string, id: string): T {
  const r = found(result, what, id);
  if (!r.ok) {
    throw badRequest(
      `The ${what.toLowerCase()} is invalid (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`,
      r.problems,
      'validation_failed',
    );
  }
  return r.value;
}

/**
 * `valid` for a change: a result that changed nothing (the request matched what is stored) answers the resource as it
 * is, and tells the app so (`unchanged`), which records no audit event for it.
 */
function validChange<T>(
  result: Checked<T> | undefined,
  what: string,
  id: string,
  ctx: { unchanged(): void },
): T {
  const value = valid(result, what, id);
  if (result?.ok && result.unchanged === true) ctx.unchanged();
  return value;
}

export interface RouteOptions {
  maxIngestItems: number;
}

/**
 * The route table: one line per route (method, path, permission, request schemas, response schema, handler).
 * src/server/app.ts mounts it and src/server/openapi.ts documents it.
 */
export function buildRoutes(options: RouteOptions): Route[] {
  return [
    // --- identity of the caller, sandboxes, tokens ---
    route({
      method: 'GET',
      path: `${V1}/me`,
      permissions: [],
      tag: 'Tokens',
      summary: 'The calling token: name, sandbox, permissions',
      status: 200,
      response: S.WhoAmISchema,
      handler: async ({ principal }) => ({
        tokenId: principal.tokenId,
        name: principal.name,
        sandbox: principal.sandbox,
        permissions: [...principal.permissions],
      }),
    }),
    route({
      method: 'GET',
      path: `${V1}/settings`,
      permissions: [],
      tag: 'Tokens',
      summary:
        'What the service offers the console: whether "Log in with X" has a default X app, and (for a token with ' +
        'Manage Tokens) where the audit trail is pushed and how far',
      status: 200,
      response: S.SettingsSchema,
      handler: async ({ backend, principal }) =>
        backend.settings({ audit: principal.permissions.includes('Manage Tokens') }),
    }),
    route({
      method: 'GET',
      path: `${V1}/profile-keys`,
      permissions: ['View Destinations'],
      tag: 'Sandboxes',
      summary:
        "How the sandbox's profiles are keyed: the identity namespaces a profile key comes from, in order of " +
        'preference, and whether that can still change (not once the sandbox holds profiles)',
      status: 200,
      response: S.ProfileKeysSchema,
      handler: async ({ principal, backend }) => backend.profileKeys.get(principal.sandboxId),
    }),
    route({
      method: 'PATCH',
      path: `${V1}/profile-keys`,
      permissions: ['Activate Destinations'],
      tag: 'Sandboxes',
      summary:
        "Sets the identity namespaces the sandbox's profile keys come from (null: the default, ECID then CRMID). " +
        'Once the sandbox holds profiles this re-keys it and needs "rekey": true (409 profile_keys_fixed without; ' +
        '409 rekey_in_progress during another): each profile takes its new key when it next arrives.',
      body: S.ProfileKeysPatchSchema,
      errors: {
        409: '`profile_keys_fixed`: the sandbox holds profiles and "rekey": true was not sent; `rekey_in_progress`: another re-keying runs',
      },
      status: 200,
      response: S.ProfileKeysSchema,
      handler: async ({ principal, backend, body }) =>
        backend.profileKeys.set(principal.sandboxId, body.namespaces, { rekey: body.rekey }),
    }),
    route({
      method: 'POST',
      path: `${V1}/profile-keys/rekey/finish`,
      permissions: ['Activate Destinations'],
      tag: 'Sandboxes',
      summary:
        'Ends the re-keying in progress (409 no_rekey when there is none): profiles are no longer looked for under ' +
        'their old keys; with removeRemaining, those not met under the new keys leave every audience first.',
      body: S.ProfileKeysRekeyFinishPostSchema,
      errors: { 409: '`no_rekey`: no re-keying is in progress' },
      status: 200,
      response: S.ProfileKeysRekeyFinishSchema,
      handler: async ({ principal, backend, body }) =>
        backend.profileKeys.finishRekey(principal.sandboxId, { removeRemaining: body.removeRemaining }),
    }),
    route({
      method: 'GET',
      path: `${V1}/data-usage-policies`,
      permissions: ['View Destinations'],
      tag: 'Governance',
      summary:
        "The data-usage policies activations are checked against: the core ones and the sandbox's own (each " +
        'forbids a marketing action on data with certain labels)',
      status: 200,
      response: S.DataUsagePoliciesSchema,
      handler: async ({ principal, backend }) => backend.dataUsagePolicies.get(principal.sandboxId),
    }),
    route({
      method: 'PUT',
      path: `${V1}/data-usage-policies`,
      permissions: ['Activate Destinations'],
      tag: 'Governance',
      summary:
        "Replaces the sandbox's own data-usage policies. 409 policy_violation when an activation in place breaks the " +
        'new set; from then on, activations and label or marketing-action changes are checked against it.',
      body: S.DataUsagePoliciesPutSchema,
      status: 200,
      response: S.DataUsagePoliciesSchema,
      handler: async ({ principal, backend, body }) =>
        valid(
          await backend.dataUsagePolicies.set(principal.sandboxId, body.policies),
          'Data-usage policies',
          principal.sandboxId,
        ),
    }),
    route({
      method: 'GET',
      path: `${V1}/field-labels`,
      permissions: ['View Destinations'],
      tag: 'Governance',
      summary:
        'Data-usage labels on the fields mappings can export (identity namespaces and attribute paths): an ' +
        'activation that exports a labelled field is checked against the data-usage policies',
      status: 200,
      response: S.FieldLabelsSchema,
      handler: async ({ principal, backend }) => backend.fieldLabels.get(principal.sandboxId),
    }),
    route({
      method: 'PUT',
      path: `${V1}/field-labels`,
      permissions: ['Activate Destinations'],
      tag: 'Governance',
      summary:
        'Replaces the labelled fields. 409 policy_violation when a dataflow in place exports a field the new labels ' +
        'forbid for its destination; from then on, mappings and marketing-action changes are checked against them.',
      body: S.FieldLabelsPutSchema,
      status: 200,
      response: S.FieldLabelsSchema,
      handler: async ({ principal, backend, body }) =>
        valid(
          await backend.fieldLabels.set(principal.sandboxId, body.fields),
          'Field labels',
          principal.sandboxId,
        ),
    }),
    route({
      method: 'GET',
      path: `${V1}/consent-policies`,
      permissions: ['View Destinations'],
      tag: 'Governance',
      summary:
        "The sandbox's consent policies: if a destination is used for one of a policy's marketing actions, a " +
        'profile is exported there only when its consent attribute holds an allowed value',
      status: 200,
      response: S.ConsentPoliciesSchema,
      handler: async ({ principal, backend }) => backend.consentPolicies.get(principal.sandboxId),
    }),
    route({
      method: 'GET',
      path: `${V1}/consent-policies/preview`,
      permissions: ['View Destinations'],
      tag: 'Governance',
      summary:
        'How many known profiles the consent policies keep: those that apply to a destination (every policy ' +
        "without one), over all the sandbox's profiles and each segment asked about (one pass over the stored profiles)",
      query: S.ConsentPreviewQuerySchema,
      status: 200,
      response: S.ConsentPreviewSchema,
      handler: async ({ principal, backend, query }) => {
        const segmentIds = [...new Set(splitList(query.segmentIds ?? ''))];
        if (segmentIds.length > 250)
          throw badRequest('Give at most 250 segment ids', [
            { path: 'query.segmentIds', reason: 'comma-separated, at most 250 ids' },
          ]);
        const fields = splitList(query.fields ?? '');
        const mapping = fields.map((field) => {
          const colon = field.indexOf(':');
          return { sourceType: field.slice(0, colon), source: field.slice(colon + 1).trim() };
        });
        const badField = mapping.findIndex(
          (f) => (f.sourceType !== 'namespace' && f.sourceType !== 'attribute') || f.source === '',
        );
        if (badField !== -1 || fields.length > 50)
          throw badRequest('Give the mapped fields as namespace:<namespace> or attribute:<path>', [
            {
              path: 'query.fields',
              reason:
                badField !== -1
                  ? `"${fields[badField]}" is neither namespace:<identity namespace> nor attribute:<path>`
                  : 'comma-separated, at most 50 fields',
            },
          ]);
        const destinationId = query.destinationId ?? null;
        return found(
          await backend.consentPolicies.preview(principal.sandboxId, destinationId, segmentIds, mapping),
          'Destination',
          destinationId ?? '',
        );
      },
    }),
    route({
      method: 'PUT',
      path: `${V1}/consent-policies`,
      permissions: ['Activate Destinations'],
      tag: 'Governance',
      summary:
        "Replaces the sandbox's consent policies. Every active audience is then evaluated again from the stored " +
        'profiles: members who fail a policy are removed from X, those no longer held back are added.',
      body: S.ConsentPoliciesPutSchema,
      status: 200,
      response: S.ConsentPoliciesSchema,
      handler: async ({ principal, backend, body }) =>
        backend.consentPolicies.set(principal.sandboxId, body.policies),
    }),
    route({
      method: 'GET',
      path: `${V1}/sandboxes`,
      permissions: [],
      tag: 'Sandboxes',
      summary: "Sandboxes visible to the token (all of them with Manage Sandboxes, else the token's own)",
      status: 200,
      response: S.SandboxListSchema,
      handler: async ({ principal, backend }) => {
        const all = await backend.sandboxes.list();
        const visible = principal.permissions.includes('Manage Sandboxes')
          ? all
          : all.filter((s) => s.id === principal.sandboxId);
        return {
          items: visible.map((s) => ({
            name: s.name,
            createdAt: s.createdAt,
            current: s.id === principal.sandboxId,
          })),
        };
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/sandboxes`,
      permissions: ['Manage Sandboxes'],
      tag: 'Sandboxes',
      summary: 'Create a sandbox',
      body: S.SandboxCreateSchema,
      errors: { 409: '`conflict`: a sandbox of that name exists' },
      status: 201,
      response: S.SandboxSchema,
      handler: async ({ body, backend, principal }) => {
        if (await backend.sandboxes.get(body.name))
          throw new ApiError({
            status: 409,
            code: 'conflict',
            message: `Sandbox "${body.name}" already exists`,
          });
        const s = await backend.sandboxes.create(body.name);
        return { name: s.name, createdAt: s.createdAt, current: s.id === principal.sandboxId };
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/tokens`,
      permissions: ['Manage Tokens'],
      tag: 'Tokens',
      summary: "List the sandbox's tokens (never their secrets)",
      status: 200,
      response: S.TokenListSchema,
      handler: async ({ principal, backend }) => ({ items: await backend.tokens.list(principal.sandboxId) }),
    }),
    route({
      method: 'POST',
      path: `${V1}/tokens`,
      permissions: ['Manage Tokens'],
      tag: 'Tokens',
      summary: 'Create a token; the secret is returned once. Another sandbox needs Manage Sandboxes.',
      body: S.TokenCreateSchema,
      status: 201,
      response: S.TokenCreatedSchema,
      handler: async ({ principal, backend, body }) => {
        const isAdmin = principal.permissions.includes('Manage Sandboxes');
        let sandboxId = principal.sandboxId;
        if (body.sandbox !== undefined && body.sandbox !== principal.sandbox) {
          if (!isAdmin) throw forbidden('Manage Sandboxes');
          const target = found(await backend.sandboxes.get(body.sandbox), 'Sandbox', body.sandbox);
          sandboxId = target.id;
        }
        // A token cannot hand out more than it holds (the admin token holds everything).
        const missing = body.permissions.filter((p) => !principal.permissions.includes(p));
        if (missing.length > 0 && !isAdmin) {
          throw new ApiError({
            status: 403,
            code: 'forbidden',
            message: 'A token can only grant permissions it holds itself',
            details: missing.map((p) => ({ path: 'permissions', reason: `not held by the caller: ${p}` })),
          });
        }
        const created = await backend.tokens.create({
          sandboxId,
          name: body.name,
          permissions: [...new Set(body.permissions)],
        });
        return { ...created.view, token: created.token };
      },
    }),
    route({
      method: 'DELETE',
      path: `${V1}/tokens/:id`,
      permissions: ['Manage Tokens'],
      tag: 'Tokens',
      summary: 'Revoke a token',
      params: S.IdParams,
      status: 204,
      response: null,
      handler: async ({ principal, backend, params }) => {
        if (!(await backend.tokens.revoke(principal.sandboxId, params.id)))
          throw notFound('Token', params.id);
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/audit-events`,
      permissions: ['Manage Tokens'],
      tag: 'Tokens',
      summary:
        "The sandbox's audit trail, newest first: every change made through the API (and every one refused for a " +
        'permission), with the token that made it, the route, the id changed, the status and the names of the fields ' +
        'sent (never their values). Kept 400 days.',
      query: S.AuditQuerySchema,
      status: 200,
      response: S.AuditEventListSchema,
      handler: async ({ principal, backend, query }) => {
        return validCursor(
          await backend.audit.list(auditScope(principal, query.allSandboxes), {
            limit: query.limit,
            cursor: query.cursor,
            target: query.target,
          }),
        );
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/audit-events/feed`,
      permissions: ['Manage Tokens'],
      tag: 'Tokens',
      summary:
        'The audit trail oldest first, for a collector that polls (a SIEM): pass the `cursor` of each answer as ' +
        '`after` on the next poll and every event comes exactly once. Events appear 2 s after they are recorded, so ' +
        'none lands behind a cursor that has passed its time. `allSandboxes=true` (Manage Sandboxes) reads them all.',
      query: S.AuditFeedQuerySchema,
      status: 200,
      response: S.AuditFeedSchema,
      handler: async ({ principal, backend, query }) => {
        return validCursor(
          await backend.audit.feed(auditScope(principal, query.allSandboxes), {
            limit: query.limit,
            after: query.after,
          }),
        );
      },
    }),

    // --- destinations ---
    route({
      method: 'GET',
      path: `${V1}/destinations`,
      permissions: ['View Destinations'],
      tag: 'Destinations',
      summary: 'List destinations',
      status: 200,
      response: S.DestinationListSchema,
      handler: async ({ principal, backend }) => ({
        items: await backend.destinations.list(principal.sandboxId),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary: 'Create a destination (an X Ads account connection); credentials are write-only',
      body: S.DestinationCreateSchema,
      status: 201,
      response: S.DestinationSchema,
      handler: async ({ principal, backend, body }) =>
        valid(await backend.destinations.create(principal.sandboxId, body), 'Destination', ''),
    }),
    route({
      method: 'GET',
      path: `${V1}/destinations/:id`,
      permissions: ['View Destinations'],
      tag: 'Destinations',
      summary: 'Get a destination',
      params: S.IdParams,
      status: 200,
      response: S.DestinationSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.destinations.get(principal.sandboxId, params.id), 'Destination', params.id),
    }),
    route({
      method: 'PATCH',
      path: `${V1}/destinations/:id`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary:
        'Change a destination. New credentials, account or API base URL for an active destination are saved only ' +
        'when they pass the preflight (422 otherwise); for one that is not active they are saved, then checked, and ' +
        'its status says the outcome',
      params: S.IdParams,
      body: S.DestinationPatchSchema,
      errors: {
        409: ACCOUNT_IN_USE,
        422: '`connection_check_failed`: the destination is active and the new connection fails the preflight (details name each failed check); nothing was saved',
      },
      status: 200,
      response: S.DestinationSchema,
      handler: async ({ principal, backend, params, body, unchanged }) =>
        validChange(
          await backend.destinations.update(principal.sandboxId, params.id, body),
          'Destination',
          params.id,
          { unchanged },
        ),
    }),
    route({
      method: 'DELETE',
      path: `${V1}/destinations/:id`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary: 'Delete a destination that no dataflow uses',
      params: S.IdParams,
      errors: { 409: '`conflict`: a dataflow uses the destination (details name it)' },
      status: 204,
      response: null,
      handler: async ({ principal, backend, params }) => {
        const r = found(
          await backend.destinations.remove(principal.sandboxId, params.id),
          'Destination',
          params.id,
        );
        if (!r.ok)
          throw new ApiError({
            status: 409,
            code: 'conflict',
            message: 'The destination is in use',
            details: r.problems,
          });
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/verify`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary:
        "Preflight checklist: credentials, account access, Partner Audience Manager permission, eligibility, the app's " +
        'Audience API access; of the stored connection, or of a new account, API base URL or credentials in the body, ' +
        'saved only when every check passes',
      params: S.IdParams,
      body: S.VerifyCandidateSchema,
      errors: { 409: ACCOUNT_IN_USE },
      status: 200,
      response: S.VerifyResultSchema,
      handler: async ({ principal, backend, params, body }) =>
        found(
          await backend.destinations.verify(principal.sandboxId, params.id, body),
          'Destination',
          params.id,
        ),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/test-alert`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary:
        "Sends a test notification (type `test`) to the destination's alert webhook, signed as alerts are, and " +
        'says whether the webhook accepted it (2xx) and if not why',
      params: S.IdParams,
      status: 200,
      response: S.TestAlertResultSchema,
      handler: async ({ principal, backend, params }) =>
        valid(await backend.destinations.testAlert(principal.sandboxId, params.id), 'Destination', params.id),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/test-email`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary:
        "Emails a test alert to the destination's own alert recipients (alertEmailTo) through the service's SMTP " +
        'server, and says whether the server accepted it and if not why; 400 when it has none',
      params: S.IdParams,
      status: 200,
      response: S.TestEmailResultSchema,
      handler: async ({ principal, backend, params }) =>
        valid(await backend.destinations.testEmail(principal.sandboxId, params.id), 'Destination', params.id),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/test-pagerduty`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary:
        "Triggers a test incident (severity info) with the destination's own PagerDuty routing key and resolves it at " +
        'once; says whether PagerDuty accepted it and if not why; 400 when the destination has no key of its own',
      params: S.IdParams,
      status: 200,
      response: S.TestPagerDutyResultSchema,
      handler: async ({ principal, backend, params }) =>
        valid(
          await backend.destinations.testPagerDuty(principal.sandboxId, params.id),
          'Destination',
          params.id,
        ),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/login`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary: 'Start "Log in with X" (PIN flow): returns the page where the user authorizes the app',
      params: S.IdParams,
      body: S.LoginStartSchema,
      status: 200,
      response: S.LoginStartResultSchema,
      handler: async ({ principal, backend, params, body }) =>
        valid(
          await backend.destinations.loginStart(principal.sandboxId, params.id, body),
          'Destination',
          params.id,
        ),
    }),
    route({
      method: 'POST',
      path: `${V1}/destinations/:id/login/complete`,
      permissions: ['Manage Destinations'],
      tag: 'Destinations',
      summary: 'Finish the PIN flow: exchanges the PIN for access tokens and stores them encrypted',
      params: S.IdParams,
      body: S.LoginCompleteSchema,
      status: 200,
      response: S.DestinationSchema,
      handler: async ({ principal, backend, params, body }) =>
        valid(
          await backend.destinations.loginComplete(principal.sandboxId, params.id, body),
          'Destination',
          params.id,
        ),
    }),

    // --- segments ---
    route({
      method: 'GET',
      path: `${V1}/segments`,
      permissions: ['View Segments'],
      tag: 'Segments',
      summary: 'List segments',
      status: 200,
      response: S.SegmentListSchema,
      handler: async ({ principal, backend }) => ({
        items: await backend.segments.list(principal.sandboxId),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/segments`,
      permissions: ['Manage Segments'],
      tag: 'Segments',
      summary: 'Register a source segment (id as in segmentMembership, name, description, data-usage labels)',
      body: S.SegmentCreateSchema,
      status: 201,
      response: S.SegmentSchema,
      handler: async ({ principal, backend, body }) =>
        valid(await backend.segments.create(principal.sandboxId, body), 'Segment', body.id),
    }),
    route({
      method: 'PATCH',
      path: `${V1}/segments/:id`,
      permissions: ['Manage Segments'],
      tag: 'Segments',
      summary:
        "Change a segment's name, description or data-usage labels. 409 policy_violation when new labels forbid a " +
        'marketing action of a destination the segment is activated to.',
      params: S.IdParams,
      body: S.SegmentPatchSchema,
      status: 200,
      response: S.SegmentSchema,
      handler: async ({ principal, backend, params, body, unchanged }) =>
        validChange(
          await backend.segments.update(principal.sandboxId, params.id, body),
          'Segment',
          params.id,
          { unchanged },
        ),
    }),
    route({
      method: 'DELETE',
      path: `${V1}/segments/:id`,
      permissions: ['Manage Segments'],
      tag: 'Segments',
      summary: 'Delete a segment that no dataflow activates',
      params: S.IdParams,
      errors: {
        409: '`conflict`: a dataflow (active, paused or failed) activates the segment (details name each one)',
      },
      status: 204,
      response: null,
      handler: async ({ principal, backend, params }) => {
        const r = found(await backend.segments.remove(principal.sandboxId, params.id), 'Segment', params.id);
        if (!r.ok)
          throw new ApiError({
            status: 409,
            code: 'conflict',
            message: `The segment is activated by ${r.problems.length === 1 ? 'a dataflow' : `${r.problems.length} dataflows`}; remove it from ${r.problems.length === 1 ? 'that dataflow' : 'them'} first`,
            details: r.problems,
          });
      },
    }),

    // --- dataflows ---
    route({
      method: 'GET',
      path: `${V1}/dataflows`,
      permissions: ['View Destinations'],
      tag: 'Dataflows',
      summary: 'List dataflows',
      status: 200,
      response: S.DataflowListSchema,
      handler: async ({ principal, backend }) => ({
        items: await backend.dataflows.list(principal.sandboxId),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/dataflows`,
      permissions: ['Activate Destinations', 'View Profiles', 'View Segments'],
      tag: 'Dataflows',
      summary:
        'Activate segments to a destination with a mapping and a schedule; lists every problem at once',
      body: S.DataflowCreateSchema,
      status: 201,
      response: S.DataflowSchema,
      handler: async ({ principal, backend, body }) =>
        valid(await backend.dataflows.create(principal.sandboxId, body), 'Dataflow', ''),
    }),
    route({
      method: 'GET',
      path: `${V1}/dataflows/:id`,
      permissions: ['View Destinations'],
      tag: 'Dataflows',
      summary: 'Get a dataflow',
      params: S.IdParams,
      status: 200,
      response: S.DataflowSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.dataflows.get(principal.sandboxId, params.id), 'Dataflow', params.id),
    }),
    route({
      method: 'PATCH',
      path: `${V1}/dataflows/:id`,
      permissions: ['Activate Destinations', 'View Profiles', 'View Segments'],
      tag: 'Dataflows',
      summary:
        'Change mapping, schedule or audiences; pause ({"status":"paused"}) or resume ({"status":"active"})',
      params: S.IdParams,
      body: S.DataflowPatchSchema,
      status: 200,
      response: S.DataflowSchema,
      handler: async ({ principal, backend, params, body, unchanged }) =>
        validChange(
          await backend.dataflows.update(principal.sandboxId, params.id, body),
          'Dataflow',
          params.id,
          { unchanged },
        ),
    }),
    route({
      method: 'DELETE',
      path: `${V1}/dataflows/:id`,
      permissions: ['Activate Destinations'],
      tag: 'Dataflows',
      summary: 'Delete a dataflow',
      params: S.IdParams,
      status: 204,
      response: null,
      handler: async ({ principal, backend, params }) => {
        if (!(await backend.dataflows.remove(principal.sandboxId, params.id)))
          throw notFound('Dataflow', params.id);
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/dataflows/:id/plan`,
      permissions: ['View Destinations'],
      tag: 'Dataflows',
      summary:
        'Dry-run plan: audiences to create/rename/delete, pending changes, next requests, sample payload (hashes only)',
      params: S.IdParams,
      status: 200,
      response: S.PlanSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.dataflows.plan(principal.sandboxId, params.id), 'Dataflow', params.id),
    }),
    route({
      method: 'GET',
      path: `${V1}/dataflows/:id/runs`,
      permissions: ['View Destinations'],
      tag: 'Dataflows',
      summary: 'Hourly dataflow runs (received, activated, excluded, failed, activation rate)',
      params: S.IdParams,
      query: S.RunsQuerySchema,
      status: 200,
      response: S.RunListSchema,
      handler: async ({ principal, backend, params, query }) => {
        const range: { from?: Date; to?: Date } = {};
        if (query.from !== undefined) range.from = new Date(query.from);
        if (query.to !== undefined) range.to = new Date(query.to);
        const runs = found(
          await backend.dataflows.runs(principal.sandboxId, params.id, range),
          'Dataflow',
          params.id,
        );
        if (query.with === undefined) return { items: runs };
        const field = RUN_FILTERS[query.with];
        return { items: runs.filter((run) => Number(run[field] ?? 0) > 0) };
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/monitoring`,
      permissions: ['View Destinations'],
      tag: 'Dataflows',
      summary:
        "Every dataflow of the sandbox at a glance over a window (the last 24 h, 7 d, 30 d or from–to): the hourly runs' " +
        'counts summed, activation rate, the changes waiting now, the last delivery, the alerts firing, and why a ' +
        'dataflow needs a look',
      query: S.MonitoringQuerySchema,
      status: 200,
      response: S.MonitoringSchema,
      handler: async ({ principal, backend, query }) => {
        const r = await backend.dataflows.monitoring(principal.sandboxId, {
          range: query.range,
          ...(query.from === undefined ? {} : { from: Date.parse(query.from) }),
          ...(query.to === undefined ? {} : { to: Date.parse(query.to) }),
        });
        if (!r.ok)
          throw badRequest(
            'The window is empty',
            r.problems.map((p) => ({ ...p, path: `query.${p.path}` })),
            'validation_failed',
          );
        return r.value;
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/dataflows/:id/flush`,
      permissions: ['Activate Destinations'],
      tag: 'Dataflows',
      summary:
        'Deliver pending changes now instead of waiting for the aggregation window; 202 when they outlast the wait',
      params: S.IdParams,
      query: S.FlushQuerySchema,
      status: 200,
      otherStatuses: { 202: 'The deliveries outlasted the wait and go on in the background' },
      response: S.FlushResultSchema,
      handler: async ({ principal, backend, params, query, setStatus }) => {
        const result = found(
          await backend.dataflows.flush(principal.sandboxId, params.id, { waitMs: query.wait * 1000 }),
          'Dataflow',
          params.id,
        );
        if (result.status === 'delivering') setStatus(202);
        return { dataflowId: params.id, ...result };
      },
    }),

    // --- audiences, dead letters ---
    route({
      method: 'GET',
      path: `${V1}/audiences`,
      permissions: ['View Destinations'],
      tag: 'Audiences',
      summary:
        'Activated audiences: X audience id, name, size, targetable, reasons, pending changes, last delivery',
      query: S.AudienceQuerySchema,
      status: 200,
      response: S.AudienceListSchema,
      handler: async ({ principal, backend, query }) => ({
        items: await backend.audiences.list(
          principal.sandboxId,
          query.dataflowId === undefined ? {} : { dataflowId: query.dataflowId },
        ),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/audiences/:id/activate-now`,
      permissions: ['Activate Destinations'],
      tag: 'Audiences',
      summary:
        'Activate now: send every current member of the audience to X again with a delivery started now (restores ' +
        'members removed in X). Once per 24 hours per audience: 429 with Retry-After sooner.',
      params: S.IdParams,
      errors: {
        429: '`too_soon`: the audience was activated now within 24 hours; Retry-After says when it may be again',
      },
      status: 202,
      response: S.ActivateNowSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.audiences.activateNow(principal.sandboxId, params.id), 'Audience', params.id),
    }),
    route({
      method: 'GET',
      path: `${V1}/alerts`,
      permissions: ['View Destinations'],
      tag: 'Alerts',
      summary:
        "The sandbox's alerts, newest first: those firing now (their condition holds) and those resolved in the " +
        'last 30 days. Each fired once to the webhooks, and its resolution was sent to the same ones.',
      query: S.AlertQuerySchema,
      status: 200,
      response: S.AlertListSchema,
      handler: async ({ principal, backend, query }) => ({
        items: await backend.alerts.list(principal.sandboxId, {
          status: query.status,
          dataflowId: query.dataflowId,
          limit: query.limit,
        }),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/alerts/:id/acknowledge`,
      permissions: ['Activate Destinations'],
      tag: 'Alerts',
      summary:
        'Acknowledges a firing alert: someone is on it. No reminder of it is sent from now on and the PagerDuty ' +
        'incident it triggered is acknowledged; it still resolves when its condition clears. Again: no change. ' +
        '409 when it has resolved.',
      params: S.IdParams,
      errors: { 409: '`conflict`: the alert has resolved' },
      status: 200,
      response: S.AlertSchema,
      handler: async ({ principal, backend, params }) => {
        const r = await backend.alerts.acknowledge(principal.sandboxId, params.id, principal.name);
        if (r === 'not_found') throw notFound('Alert', params.id);
        if (r === 'resolved')
          throw conflict(`Alert "${params.id}" has resolved: there is nothing left to acknowledge`);
        return r;
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/alerts/test-email`,
      permissions: ['Manage Sandboxes'],
      tag: 'Alerts',
      summary:
        "Emails a test alert to the installation's alert recipients (TCA_ALERT_EMAIL_TO) through its SMTP server; " +
        'says whether the server accepted it and if not why; 400 when alert emails are not set up',
      status: 200,
      response: S.TestEmailResultSchema,
      handler: async ({ principal, backend }) => {
        const r = await backend.alerts.testEmail(principal.sandboxId);
        if (!r.ok) throw badRequest('No alert email to test', r.problems, 'validation_failed');
        return r.value;
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/alerts/test-pagerduty`,
      permissions: ['Manage Sandboxes'],
      tag: 'Alerts',
      summary:
        "Triggers a test incident (severity info) through the installation's PagerDuty key " +
        '(TCA_ALERT_PAGERDUTY_ROUTING_KEY) and resolves it at once; says whether PagerDuty accepted it and if not ' +
        'why; 400 when no key is set',
      status: 200,
      response: S.TestPagerDutyResultSchema,
      handler: async ({ principal, backend }) => {
        const r = await backend.alerts.testPagerDuty(principal.sandboxId);
        if (!r.ok) throw badRequest('No PagerDuty integration to test', r.problems, 'validation_failed');
        return r.value;
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/alerts/silences`,
      permissions: ['View Destinations'],
      tag: 'Alerts',
      summary:
        "The sandbox's alert silences, pending and active ones (soonest ending first); with expired=true those that " +
        'ended in the last 30 days after them',
      query: S.AlertSilenceQuerySchema,
      status: 200,
      response: S.AlertSilenceListSchema,
      handler: async ({ principal, backend, query }) => ({
        items: await backend.alerts.silences.list(principal.sandboxId, { expired: query.expired }),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/alerts/silences`,
      permissions: ['Activate Destinations'],
      tag: 'Alerts',
      summary:
        "Silences the sandbox's alerts (of one dataflow or all, of one type or all) for a window: they are recorded " +
        'and listed but not sent. One still firing when the window ends is sent then; one that cleared inside it is ' +
        'never sent, its resolution included. At most 30 days, with a comment saying why.',
      body: S.AlertSilenceInputSchema,
      status: 201,
      response: S.AlertSilenceSchema,
      handler: async ({ principal, backend, body }) => {
        const r = await backend.alerts.silences.create(principal.sandboxId, body, principal.name);
        if (!r.ok) throw badRequest('The silence is invalid', r.problems, 'validation_failed');
        return r.value;
      },
    }),
    route({
      method: 'DELETE',
      path: `${V1}/alerts/silences/:id`,
      permissions: ['Activate Destinations'],
      tag: 'Alerts',
      summary:
        'Ends a silence now (a pending one before it starts): alerts it held back that still fire are sent at the ' +
        'next evaluation. It stays listed (with expired=true) as ended.',
      params: S.IdParams,
      status: 200,
      response: S.AlertSilenceSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.alerts.silences.end(principal.sandboxId, params.id), 'Silence', params.id),
    }),
    route({
      method: 'POST',
      path: `${V1}/alerts/test`,
      permissions: ['Manage Sandboxes'],
      tag: 'Alerts',
      summary:
        "Sends a test notification (type `test`) to the installation's alert webhook (TCA_ALERT_WEBHOOK_URL), signed " +
        'as alerts are, and says whether it accepted it (2xx) and if not why; 400 when none is set',
      status: 200,
      response: S.TestAlertResultSchema,
      handler: async ({ principal, backend }) => {
        const r = await backend.alerts.test(principal.sandboxId);
        if (!r.ok) throw badRequest('No alert webhook to test', r.problems, 'validation_failed');
        return r.value;
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/dead-letters`,
      permissions: ['View Destinations', 'View Identity Graph'],
      tag: 'Dead letters',
      summary: 'Users X rejected (hashed identifiers and the X error)',
      query: S.DeadLetterQuerySchema,
      status: 200,
      response: S.DeadLetterListSchema,
      handler: async ({ principal, backend, query }) => ({
        items: await backend.deadLetters.list(principal.sandboxId, {
          limit: query.limit,
          ...(query.dataflowId === undefined ? {} : { dataflowId: query.dataflowId }),
        }),
      }),
    }),
    route({
      method: 'POST',
      path: `${V1}/dead-letters/replay`,
      permissions: ['Activate Destinations'],
      tag: 'Dead letters',
      summary: 'Queue dead letters for delivery again (by ids, or all of a dataflow)',
      body: S.DeadLetterReplaySchema,
      status: 200,
      response: S.DeadLetterReplayResultSchema,
      handler: async ({ principal, backend, body }) => {
        const sel: { ids?: string[]; dataflowId?: string } = {};
        if (body.ids !== undefined) sel.ids = body.ids;
        if (body.dataflowId !== undefined) {
          found(
            await backend.dataflows.get(principal.sandboxId, body.dataflowId),
            'Dataflow',
            body.dataflowId,
          );
          sel.dataflowId = body.dataflowId;
        }
        return { replayed: await backend.deadLetters.replay(principal.sandboxId, sel) };
      },
    }),

    // --- ingest ---
    route({
      method: 'POST',
      path: `${V1}/imports`,
      permissions: ['Ingest Profiles'],
      importSlot: true,
      tag: 'Ingest',
      summary:
        'Import a file streamed in the body: NDJSON or a JSON array of profile exports, or CSV rows (profile_key, ' +
        'identity columns, segment:<id> columns). Incremental, or mirror (the file is the whole segment: its known ' +
        'members absent from the file leave it). Any size: the body is read as it arrives and written in batches, ' +
        'each durable once written. Answers with the report when the last batch is. Resumable: with an ' +
        'Idempotency-Key, sending the file again after an interruption skips the rows already written (409 when the ' +
        'file does not start with them), and sending it once complete returns the report without importing again.',
      query: S.ImportQuerySchema,
      errors: {
        409:
          '`import_conflict`: the Idempotency-Key was used for another file or other options; `import_running`: an ' +
          'upload under the key is being imported (Retry-After says when to try again)',
      },
      streamBody: {
        contentTypes: {
          'text/csv': 'CSV with a header row',
          'application/x-ndjson': 'One profile export per line',
          'application/ndjson': 'The same (another name for it)',
          'application/jsonl': 'The same (JSON Lines)',
          'application/json': 'A JSON array of profile exports',
        },
      },
      headers: {
        'Idempotency-Key':
          'The import key: the same file sent again under it resumes an unfinished import, and answers with the ' +
          "report of a completed one without reading the body. Without it the service makes one (the report's key).",
        'Content-Disposition':
          "The file's name (`attachment; filename*=UTF-8''members.csv`), which errors then name the file by instead " +
          'of "the upload"',
      },
      status: 200,
      response: S.ImportReportSchema,
      handler: async ({ principal, backend, query, headers, bodyStream, bodyLength }) => {
        const key = idempotencyKey(headers) ?? undefined;
        const contentType = mediaType(headers.get('content-type'));
        const format =
          query.format ??
          (contentType === 'text/csv' ? 'csv' : contentType === 'application/json' ? 'json' : 'ndjson');
        const name = uploadFileName(headers);
        const started = await backend.importFile(principal.sandboxId, {
          bytes: bodyStream!,
          totalBytes: bodyLength,
          ...(name === null ? {} : { name }),
          format,
          mode: query.mode,
          segmentId: query.segmentId,
          keyNamespace: query.keyNamespace,
          maxRejectedPercent: query.maxRejectedPercent,
          maxRemovedPercent: query.maxRemovedPercent,
          key,
        });
        if (!started.ok) {
          throw badRequest(
            `The import cannot start (${started.problems.length} problem${started.problems.length === 1 ? '' : 's'}); nothing was read`,
            started.problems,
            'validation_failed',
          );
        }
        return started.value;
      },
    }),
    route({
      method: 'POST',
      path: `${V1}/imports/url`,
      permissions: ['Ingest Profiles'],
      importSlot: true,
      tag: 'Ingest',
      summary:
        'Import the file at an http(s) URL (a presigned S3 URL, a signed Cloud Storage URL, an Azure blob URL with a ' +
        'SAS token), read and written as it streams, as an upload is. Only origins the service may read are ' +
        'fetched (TCA_IMPORT_URL_ALLOW), redirects included. The same object imported again resumes an unfinished ' +
        "import and answers a completed one's report. 400 when the URL is refused or does not answer with the file.",
      body: S.ImportUrlSchema,
      status: 200,
      response: S.ImportReportSchema,
      handler: async ({ principal, backend, body }) => {
        const started = await backend.importUrl(principal.sandboxId, body);
        if (!started.ok) {
          throw badRequest(
            `The import cannot start (${started.problems.length} problem${started.problems.length === 1 ? '' : 's'})`,
            started.problems,
            'validation_failed',
          );
        }
        return started.value;
      },
    }),
    route({
      method: 'GET',
      path: `${V1}/imports`,
      permissions: ['Ingest Profiles'],
      tag: 'Ingest',
      summary:
        "The sandbox's file imports, newest first, with their status, the rows written so far and the report " +
        '(kept 30 days after their last write).',
      query: S.ImportListQuerySchema,
      status: 200,
      response: S.ImportListSchema,
      handler: async ({ principal, backend, query }) => ({
        imports: await backend.imports.list(principal.sandboxId, query.limit),
      }),
    }),
    route({
      method: 'GET',
      path: `${V1}/imports/:key`,
      permissions: ['Ingest Profiles'],
      tag: 'Ingest',
      summary:
        'One import by its key: running, interrupted or failed (send the file again with the key to resume), or ' +
        'complete with its report.',
      params: S.ImportKeyParams,
      status: 200,
      response: S.ImportSchema,
      handler: async ({ principal, backend, params }) =>
        found(await backend.imports.get(principal.sandboxId, params.key), 'Import', params.key),
    }),
    route({
      method: 'POST',
      path: `${V1}/privacy/erasures`,
      permissions: ['Ingest Profiles'],
      tag: 'Ingest',
      summary:
        'A privacy request: erases the profiles the identities name (by profile key, or by an identity a mapping reads) from every ' +
        'audience and from storage; the next delivery removes them from X. Idempotent.',
      body: S.ErasurePostSchema,
      status: 200,
      response: S.ErasureSchema,
      handler: async ({ principal, backend, body }) => backend.erase(principal.sandboxId, body.identities),
    }),
    route({
      method: 'POST',
      path: `${V1}/ingest/profiles`,
      permissions: ['Ingest Profiles'],
      // The data plane: runs and metrics count what it brings.
      audit: false,
      tag: 'Ingest',
      summary:
        'Stream profile exports (one object, a JSON array, or NDJSON). 202 once durable; rejected items are listed with index, path and reason. ' +
        'Retries with the same Idempotency-Key (or the same body) change nothing.',
      body: S.ProfileExportDocSchema,
      errors: {
        409: '`idempotency_conflict`: the Idempotency-Key was used before with another body; nothing was stored',
      },
      rawBody: { contentTypes: ['application/json', 'application/x-ndjson'] },
      headers: {
        'Idempotency-Key':
          'Retries with the same key are accepted once; without it, the body hash is the key.',
      },
      status: 202,
      response: S.IngestResultSchema,
      handler: async ({ principal, backend, rawBody, headers }) => {
        const key = idempotencyKey(headers);
        // Each body is hashed once: into the id when no key is sent (the id then names the body), else into the
        // digest kept with the key, which tells a retry from another body sent under it. The body is decoded
        // already: sent compressed or not, the same profiles are the same request.
        const requestId =
          key ??
          'body:' +
            createHash('sha256').update(principal.sandboxId).update('\0').update(rawBody).digest('hex');
        const digest = key === null ? undefined : createHash('sha256').update(rawBody).digest('hex');
        const outcome = await backend.ingestBody(
          principal.sandboxId,
          { text: rawBody, contentType: headers.get('content-type') ?? '', maxItems: options.maxIngestItems },
          digest === undefined ? { requestId } : { requestId, digest },
        );
        return {
          ...(outcome.extra ?? {}),
          requestId,
          received: outcome.received,
          accepted: outcome.accepted,
          duplicate: outcome.duplicate,
          rejected: outcome.rejected,
        };
      },
    }),
  ];
}
