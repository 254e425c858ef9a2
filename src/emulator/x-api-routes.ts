import { Hono } from 'hono';
import type { Context } from 'hono';
import { parseAuthorizationHeader, verifySignature } from '../xads/oauth1.ts';
import { accountJson, audienceJson, processIfDue } from './audience-view.ts';
import type { EmulatorContext, RequestMeta } from './context.ts';
import { randomToken } from './context.ts';
import { rateLimitHeaders } from './rate-limit.ts';
import type { RateFamily } from './rate-limit.ts';
import { AudienceMembership } from './membership.ts';
import type { AccountRecord, AppRecord, AudienceRecord, TokenRecord, UserRecord } from './state.ts';
import { parseUsersBody } from './users-body.ts';
import { errorResponse, jsonResponse } from './x-errors.ts';
import type { RequestParams, XErrorItem } from './x-errors.ts';

type Env = { Bindings: RequestMeta };
type C = Context<Env>;

/** Permissions that may write custom audiences (reference §12 item 7). */
const WRITE_PERMISSIONS = new Set(['ACCOUNT_ADMIN', 'AD_MANAGER', 'PARTNER_AUDIENCE_MANAGER']);
const SORTABLE = new Set(['created_at', 'updated_at', 'name', 'id']);
const decoder = new TextDecoder();

interface Caller {
  app: AppRecord;
  token: TokenRecord;
  user: UserRecord;
}

interface Scoped extends Caller {
  account: AccountRecord;
  params: RequestParams;
}

/** The form-encoded body parameters, which OAuth signs (JSON bodies are never signed). */
export function formParams(c: C): Array<[string, string]> | undefined {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return undefined;
  return [...new URLSearchParams(decoder.decode(c.env.body)).entries()];
}

/** Path params plus parsed query params, as X echoes them in `request.params` (comma lists as arrays). */
function echoParams(c: C, path: Record<string, string>): RequestParams {
  const params: RequestParams = { ...path };
  for (const [k, v] of new URL(c.req.url).searchParams) {
    params[k] = k === 'custom_audience_ids' || k === 'account_ids' ? v.split(',').filter((s) => s !== '') : v;
  }
  return params;
}

function unauthorized(message: string, params: RequestParams = {}): Response {
  return errorResponse({ code: 'UNAUTHORIZED_ACCESS', message }, params);
}

/**
 * Verifies the OAuth 1.0a signature (docs.x.com "Creating a signature"): query and form parameters and
 * every received `oauth_*` parameter are signed, a JSON body is not. Any mismatch, unknown key or token,
 * or a timestamp outside the skew window is a 401.
 */
export function authenticateOAuth(
  ctx: EmulatorContext,
  c: C,
  tokenSecretFor: (oauth: Record<string, string>, app: AppRecord) => string | null,
): { ok: true; oauth: Record<string, string>; app: AppRecord } | { ok: false; message: string } {
  const oauth = parseAuthorizationHeader(c.req.header('authorization'));
  if (oauth === null)
    return { ok: false, message: 'This request is not properly authenticated: no OAuth header' };
  const app = ctx.state.apps.get(oauth.oauth_consumer_key ?? '');
  if (app === undefined)
    return { ok: false, message: 'This request is not properly authenticated: unknown consumer key' };
  const timestamp = Number(oauth.oauth_timestamp);
  const nowSeconds = Math.floor(ctx.now() / 1000);
  if (!Number.isFinite(timestamp) || Math.abs(nowSeconds - timestamp) > ctx.settings.timestampSkewSeconds) {
    return {
      ok: false,
      message: `This request is not properly authenticated: oauth_timestamp is more than ${ctx.settings.timestampSkewSeconds} seconds from the server time`,
    };
  }
  if (!oauth.oauth_nonce)
    return { ok: false, message: 'This request is not properly authenticated: missing oauth_nonce' };
  const tokenSecret = tokenSecretFor(oauth, app);
  if (tokenSecret === null)
    return { ok: false, message: 'This request is not properly authenticated: unknown or revoked token' };
  const form = formParams(c);
  const valid = verifySignature({
    method: c.req.method,
    url: c.req.url,
    ...(form ? { form } : {}),
    oauth,
    consumerSecret: app.consumerSecret,
    tokenSecret,
  });
  if (!valid) return { ok: false, message: 'This request is not properly authenticated: signature mismatch' };
  if (ctx.settings.rejectReplayedNonces) {
    const key = `${app.consumerKey}\u0000${oauth.oauth_nonce}`;
    if (ctx.state.seenNonces.has(key)) {
      return { ok: false, message: 'This request is not properly authenticated: nonce already used' };
    }
    ctx.state.seenNonces.set(key, timestamp);
    if (ctx.state.seenNonces.size > 50_000) {
      for (const [k, ts] of ctx.state.seenNonces) {
        if (nowSeconds - ts > ctx.settings.timestampSkewSeconds) ctx.state.seenNonces.delete(k);
      }
    }
  }
  return { ok: true, oauth, app };
}

/** The path parameters of a single-audience route, as X echoes them. */
function audiencePath(c: C): { account_id: string; custom_audience_id: string } {
  return {
    account_id: c.req.param('account_id') ?? '',
    custom_audience_id: c.req.param('custom_audience_id') ?? '',
  };
}

/** The X Ads API routes (`/11/…`, `/12/…`) and the PIN-flow OAuth routes (`/oauth/…`). */
export function xApiRoutes(ctx: EmulatorContext): Hono<Env> {
  const app = new Hono<Env>();

  function caller(c: C, params: RequestParams): Caller | Response {
    const auth = authenticateOAuth(ctx, c, (oauth, a) => {
      const token = ctx.state.tokens.get(oauth.oauth_token ?? '');
      return token !== undefined && token.consumerKey === a.consumerKey ? token.tokenSecret : null;
    });
    if (!auth.ok) return unauthorized(auth.message, params);
    const token = ctx.state.tokens.get(auth.oauth.oauth_token ?? '')!;
    const user = ctx.state.users.get(token.userId) ?? {
      userId: token.userId,
      screenName: `user_${token.userId}`,
    };
    return { app: auth.app, token, user };
  }

  function versionOk(c: C): boolean {
    const version = c.req.param('version') ?? '';
    if (!ctx.settings.versions.has(version)) return false;
    c.env.headers['x-current-api-version'] = '12';
    if (version !== '12')
      c.env.headers['x-api-warn'] = `API version ${version} is not the current version (12)`;
    return true;
  }

  function spend(
    c: C,
    scope: string,
    family: RateFamily,
    accountLevel: boolean,
    params: RequestParams,
  ): Response | null {
    const decision = ctx.limiter.take(scope, family, ctx.now());
    Object.assign(c.env.headers, rateLimitHeaders(decision, accountLevel));
    if (decision.allowed) return null;
    return errorResponse({ code: 'TOO_MANY_REQUESTS', message: 'Rate limit exceeded' }, params);
  }

  /** Authentication, app allowlisting, rate limit, account access and write permission, in that order. */
  function scope(
    c: C,
    options: { family: RateFamily; write: boolean; audiences: boolean; path: Record<string, string> },
  ): Scoped | Response {
    const params = echoParams(c, options.path);
    const who = caller(c, params);
    if (who instanceof Response) return who;
    if (!who.app.adsAccess || (options.audiences && !who.app.audienceAccess)) {
      return errorResponse(
        {
          code: 'UNAUTHORIZED_CLIENT_APPLICATION',
          message: 'The client application making this request does not have access to this API',
        },
        params,
      );
    }
    const accountId = options.path.account_id ?? '';
    const accountLevel = c.req.method === 'GET';
    const limited = spend(c, `${who.token.token}\u0000${accountId}`, options.family, accountLevel, params);
    if (limited) return limited;
    const account = ctx.state.accounts.get(accountId);
    const permissions = account?.access.get(who.user.userId);
    if (account === undefined || permissions === undefined) {
      return errorResponse(
        {
          code: 'ACCOUNT_NOT_FOUND',
          message: `User ${who.user.userId} has no access to account ${accountId}`,
        },
        params,
      );
    }
    if (options.write && !permissions.some((p) => WRITE_PERMISSIONS.has(p))) {
      return errorResponse(
        {
          code: 'ACTION_NOT_ALLOWED',
          message:
            'Writing custom audiences needs the Partner Audience Manager, Account Administrator or Ad Manager permission on this ads account',
        },
        params,
      );
    }
    return { ...who, account, params };
  }

  function findAudience(s: Scoped, id: string, withDeleted: boolean): AudienceRecord | Response {
    const audience = s.account.audiencesById.get(id);
    if (audience === undefined || (audience.deleted && !withDeleted)) {
      return errorResponse({ code: 'NOT_FOUND', message: `Custom audience ${id} was not found` }, s.params);
    }
    processIfDue(ctx, audience);
    return audience;
  }

  function nameProblem(account: AccountRecord, name: string, self: AudienceRecord | null): XErrorItem | null {
    if (name.length === 0 || name.length > 255) {
      return { code: 'INVALID_PARAMETER', message: 'name must be 1 to 255 characters', parameter: 'name' };
    }
    for (const other of account.audiences) {
      if (other.deleted && !ctx.settings.deletedAudiencesKeepNames) continue;
      if (other !== self && other.name === name) {
        return {
          code: 'INVALID_PARAMETER',
          message: `A custom audience named ${JSON.stringify(name)} already exists in this account${other.deleted ? ' (deleted audiences keep their names)' : ''}; names must be unique`,
          parameter: 'name',
        };
      }
    }
    return null;
  }

  /** Query parameters, then form-body parameters (the SDKs send either). */
  function param(c: C, name: string): string | undefined {
    const fromQuery = c.req.query(name);
    if (fromQuery !== undefined) return fromQuery;
    return formParams(c)?.find(([k]) => k === name)?.[1];
  }

  function newAudienceId(): string {
    for (;;) {
      const id = randomToken(ctx.random, 5);
      if (!ctx.state.audienceIds.has(id)) {
        ctx.state.audienceIds.add(id);
        return id;
      }
    }
  }

  app.get('/:version/accounts', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const params = echoParams(c, {});
    const who = caller(c, params);
    if (who instanceof Response) return who;
    if (!who.app.adsAccess) {
      return errorResponse(
        {
          code: 'UNAUTHORIZED_CLIENT_APPLICATION',
          message: 'The client application making this request does not have access to this API',
        },
        params,
      );
    }
    const limited = spend(c, who.token.token, 'globalReads', false, params);
    if (limited) return limited;
    const data = [...ctx.state.accounts.values()]
      .filter((a) => a.access.has(who.user.userId))
      .map(accountJson);
    return jsonResponse({ request: { params }, data, next_cursor: null });
  });

  app.get('/:version/accounts/:account_id', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const s = scope(c, {
      family: 'accountReads',
      write: false,
      audiences: false,
      path: { account_id: c.req.param('account_id') },
    });
    if (s instanceof Response) return s;
    return jsonResponse({ request: { params: s.params }, data: accountJson(s.account) });
  });

  app.get('/:version/accounts/:account_id/authenticated_user_access', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const s = scope(c, {
      family: 'accountReads',
      write: false,
      audiences: false,
      path: { account_id: c.req.param('account_id') },
    });
    if (s instanceof Response) return s;
    const permissions = s.account.access.get(s.user.userId) ?? [];
    return jsonResponse({
      request: { params: s.params },
      data: { user_id: s.user.userId, permissions: [...permissions] },
    });
  });

  app.get('/:version/accounts/:account_id/custom_audiences', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const withTotal = c.req.query('with_total_count') === 'true';
    const s = scope(c, {
      family: withTotal ? 'totalCount' : 'accountReads',
      write: false,
      audiences: true,
      path: { account_id: c.req.param('account_id') },
    });
    if (s instanceof Response) return s;
    const fail = (error: XErrorItem): Response => errorResponse(error, s.params);
    const countRaw = c.req.query('count');
    const count = countRaw === undefined ? 200 : Number(countRaw);
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      return fail({
        code: 'INVALID_PARAMETER',
        message: `Expected an integer from 1 to 1000 for count, got ${JSON.stringify(countRaw)}`,
        parameter: 'count',
      });
    }
    const cursor = c.req.query('cursor');
    if (withTotal && cursor !== undefined) {
      return fail({
        code: 'EXCLUSIVE_PARAMETERS',
        message: 'with_total_count and cursor are exclusive',
        parameter: 'with_total_count',
      });
    }
    let offset = 0;
    if (cursor !== undefined) {
      const m = /^c-([0-9a-z]+)$/.exec(cursor);
      offset = m ? parseInt(m[1]!, 36) : NaN;
      if (!Number.isSafeInteger(offset))
        return fail({ code: 'INVALID_PARAMETER', message: 'Invalid cursor', parameter: 'cursor' });
    }
    const q = c.req.query('q');
    if (q !== undefined && (q.length < 1 || q.length > 255)) {
      return fail({ code: 'INVALID_PARAMETER', message: 'q must be 1 to 255 characters', parameter: 'q' });
    }
    const idsRaw = c.req.query('custom_audience_ids');
    const ids = idsRaw === undefined ? null : new Set(idsRaw.split(',').filter((x) => x !== ''));
    if (ids !== null && (ids.size === 0 || ids.size > 200)) {
      return fail({
        code: 'INVALID_PARAMETER',
        message: 'custom_audience_ids takes 1 to 200 ids',
        parameter: 'custom_audience_ids',
      });
    }
    const scopeParam = c.req.query('permission_scope') ?? 'OWNER';
    if (scopeParam !== 'OWNER' && scopeParam !== 'SHARED') {
      return fail({
        code: 'INVALID_PARAMETER',
        message: 'permission_scope must be OWNER or SHARED',
        parameter: 'permission_scope',
      });
    }
    const withDeletedRaw = c.req.query('with_deleted');
    if (withDeletedRaw !== undefined && withDeletedRaw !== 'true' && withDeletedRaw !== 'false') {
      return fail({
        code: 'INVALID_PARAMETER',
        message: 'with_deleted must be true or false',
        parameter: 'with_deleted',
      });
    }
    const withDeleted = withDeletedRaw === 'true';
    const sortBy = c.req.query('sort_by');
    let sort: { field: string; desc: boolean } | null = null;
    if (sortBy !== undefined) {
      const m = /^([a-z_]+)-(asc|desc)$/.exec(sortBy);
      if (!m || !SORTABLE.has(m[1]!)) {
        return fail({
          code: 'INVALID_PARAMETER',
          message: 'sort_by must be one of created_at, updated_at, name, id followed by -asc or -desc',
          parameter: 'sort_by',
        });
      }
      sort = { field: m[1]!, desc: m[2] === 'desc' };
    }
    const prefix = q?.toLowerCase();
    // Audiences shared by other accounts are not modelled, so SHARED lists nothing.
    let matches =
      scopeParam === 'SHARED'
        ? []
        : s.account.audiences.filter(
            (a) =>
              (withDeleted || !a.deleted) &&
              (ids === null || ids.has(a.id)) &&
              (prefix === undefined || a.name.toLowerCase().startsWith(prefix)),
          );
    if (sort !== null) {
      const { field, desc } = sort;
      const key = (a: AudienceRecord): string | number =>
        field === 'created_at'
          ? a.createdAt
          : field === 'updated_at'
            ? a.updatedAt
            : field === 'name'
              ? a.name
              : a.id;
      matches = [...matches].sort((a, b) => {
        const x = key(a);
        const y = key(b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return desc ? -order : order;
      });
    }
    const page = matches.slice(offset, offset + count);
    for (const audience of page) processIfDue(ctx, audience);
    const next = offset + count < matches.length ? `c-${(offset + count).toString(36)}` : null;
    return jsonResponse({
      request: { params: s.params },
      data: page.map((a) => audienceJson(a)),
      next_cursor: next,
      ...(withTotal ? { total_count: matches.length } : {}),
    });
  });

  app.post('/:version/accounts/:account_id/custom_audiences', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const s = scope(c, {
      family: 'writes',
      write: true,
      audiences: true,
      path: { account_id: c.req.param('account_id') },
    });
    if (s instanceof Response) return s;
    const name = param(c, 'name');
    if (name === undefined) {
      return errorResponse(
        { code: 'MISSING_PARAMETER', message: 'name is required', parameter: 'name' },
        s.params,
      );
    }
    const problem = nameProblem(s.account, name, null);
    if (problem) return errorResponse(problem, s.params);
    const description = param(c, 'description');
    const now = ctx.now();
    const audience: AudienceRecord = {
      id: newAudienceId(),
      accountId: s.account.id,
      name,
      description: description === undefined || description === '' ? null : description,
      createdAt: now,
      updatedAt: now,
      deleted: false,
      members: new AudienceMembership(),
      processedSize: null,
      pendingSince: now,
    };
    s.account.audiences.push(audience);
    s.account.audiencesById.set(audience.id, audience);
    return jsonResponse({ data: audienceJson(audience), request: { params: s.params } });
  });

  app.get('/:version/accounts/:account_id/custom_audiences/:custom_audience_id', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const path = audiencePath(c);
    const s = scope(c, { family: 'accountReads', write: false, audiences: true, path });
    if (s instanceof Response) return s;
    const audience = findAudience(s, path.custom_audience_id, c.req.query('with_deleted') === 'true');
    if (audience instanceof Response) return audience;
    return jsonResponse({ request: { params: s.params }, data: audienceJson(audience) });
  });

  app.put('/:version/accounts/:account_id/custom_audiences/:custom_audience_id', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const path = audiencePath(c);
    const s = scope(c, { family: 'writes', write: true, audiences: true, path });
    if (s instanceof Response) return s;
    const audience = findAudience(s, path.custom_audience_id, false);
    if (audience instanceof Response) return audience;
    const name = param(c, 'name');
    const description = param(c, 'description');
    if (name !== undefined) {
      const problem = nameProblem(s.account, name, audience);
      if (problem) return errorResponse(problem, s.params);
      audience.name = name;
    }
    // docs.x.com "Making authenticated requests": an empty string un-sets an optional value.
    if (description !== undefined) audience.description = description === '' ? null : description;
    audience.updatedAt = ctx.now();
    return jsonResponse({ data: audienceJson(audience, 'update'), request: { params: s.params } });
  });

  app.delete('/:version/accounts/:account_id/custom_audiences/:custom_audience_id', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const path = audiencePath(c);
    const s = scope(c, { family: 'writes', write: true, audiences: true, path });
    if (s instanceof Response) return s;
    const audience = findAudience(s, path.custom_audience_id, false);
    if (audience instanceof Response) return audience;
    audience.deleted = true;
    audience.updatedAt = ctx.now();
    return jsonResponse({ data: audienceJson(audience), request: { params: s.params } });
  });

  app.post('/:version/accounts/:account_id/custom_audiences/:custom_audience_id/users', (c) => {
    if (!versionOk(c)) return routeNotFound(c);
    const path = audiencePath(c);
    const s = scope(c, { family: 'users', write: true, audiences: true, path });
    if (s instanceof Response) return s;
    // The users endpoint echoes only the path parameters (reference §12 item 3).
    const params: RequestParams = { ...path };
    const scoped = { ...s, params };
    const audience = findAudience(scoped, path.custom_audience_id, false);
    if (audience instanceof Response) return audience;
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/json')) {
      return errorResponse(
        {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          message: 'The users endpoint requires Content-Type: application/json',
        },
        params,
        { status: 415 },
      );
    }
    const now = ctx.now();
    const parsed = parseUsersBody(decoder.decode(c.env.body), c.env.body.byteLength, now, {
      expiryMonths: ctx.settings.expiryMonths,
    });
    if (!parsed.ok) {
      c.env.operations = parsed.operationCount;
      if (parsed.level === 'request') return errorResponse(parsed.error, params, { status: parsed.status });
      return jsonResponse({ operation_errors: parsed.operationErrors, request: { params } }, { status: 400 });
    }
    c.env.operations = parsed.operations.length;
    c.env.users = parsed.userCount;
    ctx.state.applyOperations(audience, parsed.operations, now);
    const total = parsed.userCount;
    const success = c.env.countMismatch ? Math.max(0, total - 1) : total;
    return jsonResponse({ request: { params }, data: { success_count: success, total_count: total } });
  });

  // ---- OAuth 1.0a PIN flow (api.x.com/oauth/…) ----

  app.post('/oauth/request_token', (c) => {
    const auth = authenticateOAuth(ctx, c, () => '');
    if (!auth.ok) return unauthorized(auth.message);
    const callback = auth.oauth.oauth_callback ?? c.req.query('oauth_callback');
    if (callback === undefined) {
      return errorResponse({
        code: 'MISSING_PARAMETER',
        message: 'oauth_callback is required (use "oob" for the PIN flow)',
        parameter: 'oauth_callback',
      });
    }
    const token = randomToken(ctx.random, 27);
    const secret = randomToken(ctx.random, 32);
    ctx.state.requestTokens.set(token, {
      token,
      tokenSecret: secret,
      consumerKey: auth.app.consumerKey,
      callback,
      createdAt: ctx.now(),
      authorizedBy: null,
      pin: null,
    });
    return formResponse({ oauth_token: token, oauth_token_secret: secret, oauth_callback_confirmed: 'true' });
  });

  app.get('/oauth/authorize', (c) => {
    const token = c.req.query('oauth_token') ?? '';
    const record = ctx.state.requestTokens.get(token);
    if (record === undefined) {
      return c.html(
        '<!doctype html><title>Authorize</title><p>This authorization link is invalid or has expired.</p>',
        400,
      );
    }
    const pin = authorizeRequestToken(ctx, token, c.req.query('user_id'));
    if (typeof pin !== 'string')
      return c.html(`<!doctype html><title>Authorize</title><p>${escapeHtml(pin.message)}</p>`, 400);
    if ((c.req.header('accept') ?? '').includes('application/json'))
      return c.json({ pin, oauth_token: token });
    return c.html(
      `<!doctype html><title>Authorize</title><p>You authorized the application. Enter this PIN to complete authorization:</p><code id="oauth_pin">${pin}</code>`,
    );
  });

  app.post('/oauth/access_token', (c) => {
    const auth = authenticateOAuth(ctx, c, (oauth, a) => {
      const record = ctx.state.requestTokens.get(oauth.oauth_token ?? '');
      return record !== undefined && record.consumerKey === a.consumerKey ? record.tokenSecret : null;
    });
    if (!auth.ok) return unauthorized(auth.message);
    const record = ctx.state.requestTokens.get(auth.oauth.oauth_token ?? '')!;
    const verifier =
      auth.oauth.oauth_verifier ??
      c.req.query('oauth_verifier') ??
      formParams(c)?.find(([k]) => k === 'oauth_verifier')?.[1];
    if (record.pin === null || record.authorizedBy === null || verifier !== record.pin) {
      return unauthorized('Invalid oauth_verifier: authorize the request token and enter the PIN shown');
    }
    ctx.state.requestTokens.delete(record.token);
    const userId = record.authorizedBy;
    const user = ctx.state.users.get(userId) ?? { userId, screenName: `user_${userId}` };
    const token = `${userId}-${randomToken(ctx.random, 40)}`;
    const secret = randomToken(ctx.random, 45);
    ctx.state.tokens.set(token, { token, tokenSecret: secret, userId, consumerKey: record.consumerKey });
    return formResponse({
      oauth_token: token,
      oauth_token_secret: secret,
      user_id: userId,
      screen_name: user.screenName,
    });
  });

  return app;
}

/** 404 ROUTE_NOT_FOUND for any other version or path (`tailored_audiences` included, removed since v9). */
export function routeNotFound(c: C): Response {
  const path = new URL(c.req.url).pathname;
  return errorResponse({
    code: 'ROUTE_NOT_FOUND',
    message: `The requested resource could not be found: ${c.req.method} ${path}`,
  });
}

function formResponse(values: Record<string, string>): Response {
  return new Response(new URLSearchParams(values).toString(), {
    status: 200,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * Marks a request token as authorized by a user and returns its PIN (the verifier). Without `userId`
 * the first user seeded for the same app authorizes.
 */
export function authorizeRequestToken(
  ctx: EmulatorContext,
  requestToken: string,
  userId?: string,
): string | { message: string } {
  const record = ctx.state.requestTokens.get(requestToken);
  if (record === undefined) return { message: `Unknown request token ${requestToken}` };
  if (
    record.pin !== null &&
    record.authorizedBy !== null &&
    (userId === undefined || userId === record.authorizedBy)
  ) {
    return record.pin;
  }
  let chosen = userId;
  if (chosen === undefined) {
    for (const token of ctx.state.tokens.values()) {
      if (token.consumerKey === record.consumerKey) {
        chosen = token.userId;
        break;
      }
    }
    chosen ??= ctx.state.users.keys().next().value;
  }
  if (chosen === undefined || !ctx.state.users.has(chosen))
    return { message: `Unknown user ${String(chosen)}` };
  record.authorizedBy = chosen;
  record.pin = randomToken(ctx.random, 7, '0123456789');
  return record.pin;
}
