import { Hono } from 'hono';
import type { Context } from 'hono';
import type { EmulatorAdmin } from './create-emulator.ts';
import type { RequestMeta } from './context.ts';
import { EmulatorError } from './emulator-error.ts';

type Env = { Bindings: RequestMeta };

const decoder = new TextDecoder();

function adminError(c: Context<Env>, error: unknown): Response {
  if (error instanceof EmulatorError) {
    const status = error.code === 'NOT_FOUND' ? 404 : 400;
    return c.json({ error: { code: error.code, message: error.message, details: error.details } }, status);
  }
  throw error;
}

function readJson(c: Context<Env>): unknown {
  const text = decoder.decode(c.env.body);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EmulatorError('INVALID_JSON', 'The request body is not valid JSON', [
      { path: '', reason: 'send a JSON object with Content-Type: application/json' },
    ]);
  }
}

/**
 * The admin API under `/_emulator` (not part of X's API): reset, seed, members, processing, faults,
 * the request log and the PIN of the OAuth flow. JSON in and out; errors as `{ error: { code, message,
 * details } }`.
 */
export function adminRoutes(admin: EmulatorAdmin): Hono<Env> {
  const app = new Hono<Env>();
  const guarded =
    (handler: (c: Context<Env>) => Response) =>
    (c: Context<Env>): Response => {
      try {
        return handler(c);
      } catch (error) {
        return adminError(c, error);
      }
    };

  app.post(
    '/reset',
    guarded((c) => {
      admin.reset();
      return c.json({ data: { reset: true } });
    }),
  );
  app.post(
    '/seed',
    guarded((c) => {
      admin.seed(readJson(c) as never);
      return c.json({ data: { seeded: true } });
    }),
  );
  app.get(
    '/accounts/:accountId/custom_audiences/:audienceId',
    guarded((c) => {
      const audience = admin.audience(c.req.param('accountId') ?? '', c.req.param('audienceId') ?? '');
      if (audience === null) throw new EmulatorError('NOT_FOUND', 'No such custom audience');
      return c.json({ data: audience });
    }),
  );
  app.get(
    '/accounts/:accountId/custom_audiences/:audienceId/members',
    guarded((c) => {
      const members = admin.members(c.req.param('accountId') ?? '', c.req.param('audienceId') ?? '');
      return c.json({ data: members, total_count: members.length });
    }),
  );
  app.get(
    '/accounts/:accountId/custom_audiences/:audienceId/stats',
    guarded((c) =>
      c.json({ data: admin.memberStats(c.req.param('accountId') ?? '', c.req.param('audienceId') ?? '') }),
    ),
  );
  app.post(
    '/process',
    guarded((c) => c.json({ data: { processed: admin.process() } })),
  );
  app.post(
    '/faults',
    guarded((c) => {
      admin.addFaults(readJson(c) as never);
      return c.json({ data: admin.faults() });
    }),
  );
  app.get(
    '/faults',
    guarded((c) => c.json({ data: admin.faults() })),
  );
  app.delete(
    '/faults',
    guarded((c) => {
      admin.clearFaults();
      return c.json({ data: admin.faults() });
    }),
  );
  app.get(
    '/requests',
    guarded((c) => {
      const method = c.req.query('method')?.toUpperCase();
      const path = c.req.query('path');
      const data = admin
        .requests()
        .filter(
          (r) =>
            (method === undefined || r.method === method) && (path === undefined || r.path.includes(path)),
        );
      return c.json({ data });
    }),
  );
  app.delete(
    '/requests',
    guarded((c) => {
      admin.clearRequests();
      return c.json({ data: [] });
    }),
  );
  app.post(
    '/config',
    guarded((c) => {
      const body = readJson(c) as { matchRate?: unknown; processingDelayMs?: unknown };
      const change: { matchRate?: number; processingDelayMs?: number } = {};
      if (typeof body.matchRate === 'number') change.matchRate = body.matchRate;
      if (typeof body.processingDelayMs === 'number') change.processingDelayMs = body.processingDelayMs;
      admin.configure(change);
      return c.json({ data: change });
    }),
  );
  app.get(
    '/oauth/pin',
    guarded((c) => {
      const token = c.req.query('oauth_token') ?? '';
      const pin = admin.pin(token);
      if (pin === null)
        throw new EmulatorError('NOT_FOUND', `Request token ${token} is unknown or not authorized yet`);
      return c.json({ data: { oauth_token: token, pin } });
    }),
  );
  app.post(
    '/oauth/authorize',
    guarded((c) => {
      const body = readJson(c) as { oauth_token?: unknown; user_id?: unknown };
      if (typeof body.oauth_token !== 'string') {
        throw new EmulatorError('MISSING_PARAMETER', 'oauth_token is required', [
          { path: 'oauth_token', reason: 'the request token from oauth/request_token' },
        ]);
      }
      const pin = admin.authorize(
        body.oauth_token,
        typeof body.user_id === 'string' ? body.user_id : undefined,
      );
      return c.json({ data: { oauth_token: body.oauth_token, pin } });
    }),
  );
  app.notFound((c) =>
    c.json(
      { error: { code: 'NOT_FOUND', message: `No admin route ${c.req.method} ${c.req.path}`, details: [] } },
      404,
    ),
  );
  return app;
}
