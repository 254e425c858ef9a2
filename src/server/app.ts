import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { auditAction, mediaType, type Route } from './route-def.ts';
import type { Principal } from './route-def.ts';
import type { ServiceBackend } from './backend.ts';
import type { Logger } from './logger.ts';
import type { ServiceMetrics } from './metrics.ts';
import {
  ApiError,
  badRequest,
  forbidden,
  payloadTooLarge,
  unauthorized,
  type ErrorDetail,
} from './api-error.ts';
import { bearerToken } from './auth.ts';
import { buildRoutes } from './routes.ts';
import { buildOpenApi } from './openapi.ts';
import { serveConsole } from './static-files.ts';
import { unknownFields } from './unknown-fields.ts';
import { jsonSyntaxReason } from './ingest-body.ts';
import { AdmissionGate, type Admitted } from './admission-gate.ts';
import { StoreError, storeUnavailable } from '../store/index.ts';
import type { Config } from '../config/index.ts';

export interface AppOptions {
  backend: ServiceBackend;
  logger: Logger;
  metrics: ServiceMetrics;
  limits: Config['limits'];
  /** The console build (web/dist); null serves no console. */
  staticDir: string | null;
  /** Check every response against its schema (tests turn this on; a mismatch is a 500). */
  validateResponses?: boolean;
  version?: string;
  now?: () => number;
  /** false for the worker role: only health, readiness and metrics are served. */
  apiEnabled?: boolean;
}

export interface ServiceApp {
  app: Hono;
  routes: Route[];
  openapi: Record<string, unknown>;
}

/** Joins a zod issue path into `mapping[2].target`. */
export function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '$' : out;
}

export function zodDetails(error: z.ZodError, prefix = ''): ErrorDetail[] {
  return error.issues.map((i) => ({ path: formatPath(prefix, i.path), reason: i.message }));
}

// Touching last-used on every request would turn every read into a write; once a minute per token is plenty.
const TOUCH_INTERVAL_MS = 60_000;

/** The query of a route that takes no parameters: any sent is unknown. */
const NO_QUERY = z.object({});

/** Builds the Hono app: route table, auth, validation, error envelope, 404/405, health, metrics, OpenAPI, console. */
export function createApp(options: AppOptions): ServiceApp {
  const { backend, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const routes = buildRoutes({ maxIngestItems: options.limits.maxIngestItems });
  const idleMs = options.limits.idleTimeoutSeconds * 1000;
  const admission = new AdmissionGate({
    capacity: options.limits.ingestMaxPendingBytes,
    maxWaitMs: options.limits.ingestMaxWaitSeconds * 1000,
    now,
    onChange: ({ pending, waiting }) => {
      metrics.ingestPendingBytes.set(pending);
      metrics.ingestWaiting.set(waiting);
    },
  });
  // Each import holds its read-ahead batches and worker threads (hundreds of MB), and all of them share one store
  // writer: more at once only adds memory. A later one waits, unread, as long as it takes, while its client stays.
  const importSlots = new AdmissionGate({
    capacity: options.limits.maxConcurrentImports,
    maxWaitMs: Infinity,
    onChange: ({ waiting }) => metrics.importsWaiting.set(waiting),
  });
  let lastBusyLog = -Infinity;
  /** Reserves room for a body the route reads whole, before a byte of it is read; throws 503 when there is none. */
  const admitBody = async (req: Request): Promise<Admitted> => {
    const max = options.limits.maxBodyBytes;
    // A compressed body's size says little of what it expands to: it reserves the most a body may hold.
    const declared = contentEncoding(req) === 'identity' ? declaredLength(req.headers) : null;
    const units = Math.min(declared ?? max, max);
    const admitted = await admission.admit(units, req.signal);
    if (admitted !== null) return admitted;
    if (req.signal.aborted) throw clientGone();
    const retryAfter = admission.retryAfterSeconds(
      units,
      BUSY_RETRY_AFTER_SECONDS.min,
      BUSY_RETRY_AFTER_SECONDS.max,
    );
    if (now() - lastBusyLog >= BUSY_LOG_INTERVAL_MS) {
      lastBusyLog = now();
      logger.warn(
        { pendingBytes: admission.pending, waiting: admission.waiting, retryAfterSeconds: retryAfter },
        'ingest requests are being refused (503): the bodies held reached TCA_INGEST_MAX_PENDING_BYTES',
      );
    }
    throw ingestBusy(options.limits.ingestMaxPendingBytes, options.limits.ingestMaxWaitSeconds, retryAfter);
  };
  /** Waits for an import's turn; only a client that goes away meanwhile is turned down (and hears nothing). */
  const admitImport = async (req: Request): Promise<Admitted> => {
    const admitted = await importSlots.admit(1, req.signal);
    if (admitted === null) throw clientGone();
    return admitted;
  };
  const openapi = buildOpenApi(routes, { version: options.version ?? '0.1.0' });
  const lastTouch = new Map<string, number>();
  const app = new Hono();

  const mounted = options.apiEnabled === false ? [] : routes;
  const matchers = mounted.map((r) => ({
    route: r,
    regex: new RegExp('^' + r.path.replace(/:[A-Za-z_]+/g, '[^/]+') + '/?$'),
  }));

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const routePath = c.req.routePath === '*' || c.req.routePath === '/*' ? 'unmatched' : c.req.routePath;
    const seconds = (performance.now() - started) / 1000;
    metrics.httpRequests.inc({ method: c.req.method, route: routePath, status: String(c.res.status) });
    metrics.httpDuration.observe({ method: c.req.method, route: routePath }, seconds);
    if (c.res.status >= 500)
      logger.error({ method: c.req.method, route: routePath, status: c.res.status }, 'request failed');
    else
      logger.debug(
        { method: c.req.method, route: routePath, status: c.res.status, ms: Math.round(seconds * 1000) },
        'request',
      );
  });

  app.onError((err, c) => errorResponse(c, err, logger));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      const r = await backend.readiness();
      return c.json({ status: r.ok ? 'ready' : 'not_ready', checks: r.checks }, r.ok ? 200 : 503);
    } catch (e) {
      return c.json(
        { status: 'not_ready', checks: { store: { ok: false, message: (e as Error).message } } },
        503,
      );
    }
  });
  app.get('/metrics', async (c) => {
    const body = await metrics.registry.metrics();
    return c.body(body, 200, { 'content-type': metrics.registry.contentType });
  });
  app.get('/api/v1/openapi.json', (c) => c.json(openapi));

  const authenticate = async (c: Context): Promise<Principal> => {
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined) throw unauthorized('Missing token: send Authorization: Bearer <token>');
    const record = await backend.tokens.authenticate(token);
    if (!record || record.revoked) throw unauthorized('Invalid or revoked token');
    const t = now();
    if ((lastTouch.get(record.id) ?? 0) + TOUCH_INTERVAL_MS < t) {
      lastTouch.set(record.id, t);
      void backend.tokens
        .touch(record.id)
        .catch((e: unknown) => logger.warn({ err: e }, 'could not record token use'));
    }
    return {
      tokenId: record.id,
      name: record.name,
      sandboxId: record.sandboxId,
      sandbox: record.sandbox,
      permissions: record.permissions,
    };
  };

  for (const r of mounted) {
    app.on(r.method, r.path, async (c) => {
      const principal = await authenticate(c);
      // Sandboxes are chosen by token; a header naming another sandbox is a sandbox this token cannot see.
      const sandboxHeader = c.req.header('x-sandbox');
      if (sandboxHeader !== undefined && sandboxHeader !== '' && sandboxHeader !== principal.sandbox) {
        throw new ApiError({
          status: 404,
          code: 'sandbox_not_found',
          message: `Sandbox "${sandboxHeader}" is not visible to this token (it belongs to "${principal.sandbox}"); use a token of that sandbox`,
          details: [{ path: 'x-sandbox', reason: 'not the token’s sandbox' }],
        });
      }
      const audited = r.method !== 'GET' && r.audit !== false;
      const audit = async (status: number, fields: string[], target: string | null) => {
        if (!audited) return;
        try {
          await backend.audit.record({
            sandboxId: principal.sandboxId,
            tokenId: principal.tokenId,
            tokenName: principal.name,
            method: r.method,
            route: r.path,
            action: auditAction(r.summary),
            target,
            status,
            fields,
          });
        } catch (e) {
          // The change is made: a trail that cannot be written is logged, not turned into a failed request.
          logger.error({ err: e, route: r.path }, 'could not record the audit event');
        }
      };
      for (const p of r.permissions) {
        if (principal.permissions.includes(p)) continue;
        await audit(403, [], c.req.param('id') ?? null);
        throw forbidden(p);
      }

      const details: ErrorDetail[] = [];
      // The body fields the client sent, by name, before defaults fill in others: the audit trail's `fields`.
      const sent: string[] = [];
      let params: unknown = {};
      let query: unknown = {};
      let body: unknown = undefined;
      if (r.params) {
        const res = r.params.safeParse(c.req.param());
        if (res.success) params = res.data;
        else details.push(...zodDetails(res.error, 'params'));
      }
      // A parameter the route does not know is refused, with what it may have meant: misspelt, it would be ignored,
      // and a list would come back unfiltered, an upload import the whole file under the default key namespace.
      const sentQuery = c.req.query();
      if (r.query) {
        const res = r.query.safeParse(sentQuery);
        if (res.success) query = res.data;
        else details.push(...zodDetails(res.error, 'query'));
      }
      details.push(...unknownFields(r.query ?? NO_QUERY, sentQuery, 'query'));
      if (r.streamBody) {
        // A streamed upload is read as sent; gzip is recognized by its first bytes, whatever the header says.
        const encoding = contentEncoding(c.req.raw);
        if (encoding !== 'identity' && encoding !== 'gzip') throw unsupportedEncoding(encoding, ['gzip']);
        const ct = mediaType(c.req.header('content-type'));
        if (!(ct in r.streamBody.contentTypes)) {
          const accepted = Object.keys(r.streamBody.contentTypes);
          throw new ApiError({
            status: 415,
            code: 'unsupported_media_type',
            message: `Send the body as ${accepted.join(', ')}`,
            details: [{ path: 'content-type', reason: ct === '' ? 'missing' : `unsupported: ${ct}` }],
          });
        }
      }
      // A route that takes no JSON body knows every problem of the request by now: it says so before waiting its turn.
      if (!(r.body && !r.rawBody) && details.length > 0) throw invalidRequest(details);
      const admitted = r.rawBody
        ? await admitBody(c.req.raw)
        : r.importSlot
          ? await admitImport(c.req.raw)
          : null;
      try {
        const rawBody =
          (r.body || r.rawBody) && !r.streamBody
            ? await readBody(c.req.raw, options.limits.maxBodyBytes, idleMs)
            : '';
        // The body's own size from now on, once read (an import's turn is one unit whatever it reads).
        if (r.rawBody) admitted?.shrink(rawBody.length);
        if (r.body && !r.rawBody) {
          const ct = mediaType(c.req.header('content-type') ?? 'application/json');
          if (ct !== 'application/json') {
            throw new ApiError({
              status: 415,
              code: 'unsupported_media_type',
              message: 'Send the body as application/json',
              details: [{ path: 'content-type', reason: `unsupported: ${ct}` }],
            });
          }
          let doc: unknown;
          try {
            doc = rawBody.trim() === '' ? undefined : JSON.parse(rawBody);
          } catch (e) {
            throw badRequest(
              'The body is not valid JSON',
              [{ path: '$', reason: jsonSyntaxReason(e) }],
              'invalid_json',
            );
          }
          if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) sent.push(...Object.keys(doc));
          // A field the route does not take would be dropped without a word: refused, with what it may have meant.
          details.push(...unknownFields(r.body, doc));
          const res = r.body.safeParse(doc);
          if (res.success) body = res.data;
          else details.push(...zodDetails(res.error));
        }
        if (details.length > 0) throw invalidRequest(details);

        let status = r.status;
        let changed = true;
        const result = await r.handler({
          params,
          query,
          body,
          principal,
          backend,
          rawBody,
          bodyStream: r.streamBody ? chunksOf(c.req.raw.body, idleMs) : null,
          bodyLength: declaredLength(c.req.raw.headers),
          headers: c.req.raw.headers,
          setStatus: (s) => {
            status = s;
          },
          unchanged: () => {
            changed = false;
          },
        });
        // A request that changed nothing is no change to record.
        if (changed)
          await audit(
            status,
            [...sent, ...Object.keys(c.req.query()).map((name) => `?${name}`)],
            (params as { id?: string }).id ?? createdId(result),
          );
        if (r.response === null) return c.body(null, status as 204);
        if (options.validateResponses) {
          const check = r.response.safeParse(result);
          if (!check.success) {
            logger.error({ route: r.path, issues: check.error.issues }, 'response does not match its schema');
            throw new ApiError({
              status: 500,
              code: 'internal',
              message: `Response of ${r.method} ${r.path} does not match its schema`,
              details: zodDetails(check.error),
            });
          }
        }
        return c.json(result as object, status as 200);
      } finally {
        admitted?.release();
      }
    });
  }

  const consoleHandler = options.staticDir === null ? null : serveConsole(options.staticDir);

  app.notFound(async (c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = [...new Set(matchers.filter((m) => m.regex.test(path)).map((m) => m.route.method))];
    if (allowed.length > 0) {
      return errorResponse(
        c,
        new ApiError({
          status: 405,
          code: 'method_not_allowed',
          message: `${c.req.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
          headers: { allow: allowed.join(', ') },
        }),
        logger,
      );
    }
    if (!path.startsWith('/api/') && consoleHandler && (c.req.method === 'GET' || c.req.method === 'HEAD')) {
      const res = await consoleHandler(path);
      if (res) return res;
    }
    return errorResponse(
      c,
      new ApiError({
        status: 404,
        code: 'route_not_found',
        message:
          options.apiEnabled === false && path.startsWith('/api/')
            ? `This process runs the worker role and serves no API; send ${path} to an api or all process`
            : `No route ${c.req.method} ${path}; see /api/v1/openapi.json`,
      }),
      logger,
    );
  });

  return { app, routes, openapi };
}

/** When a client should try again after the store refused work (a full disk, a database down). */
const STORE_RETRY_AFTER_SECONDS = 30;
/**
 * The bounds of when a busy service asks a refused ingest request to come back: in between, the time the bodies held
 * and waiting take to drain at the rate they drained lately (`AdmissionGate.retryAfterSeconds`).
 */
const BUSY_RETRY_AFTER_SECONDS = { min: 1, max: 30 };
/** A service refusing ingest requests says so in its log at most this often. */
const BUSY_LOG_INTERVAL_MS = 60_000;

function invalidRequest(details: ErrorDetail[]): ApiError {
  return badRequest(
    `Invalid request (${details.length} problem${details.length === 1 ? '' : 's'})`,
    details,
    'validation_failed',
  );
}

function clientGone(): ApiError {
  return new ApiError({
    status: 499,
    code: 'client_closed_request',
    message: 'The client closed the connection while the request waited its turn; nothing of it was read',
  });
}

function ingestBusy(maxPendingBytes: number, maxWaitSeconds: number, retryAfterSeconds: number): ApiError {
  return new ApiError({
    status: 503,
    code: 'service_busy',
    message:
      `The service already holds ${maxPendingBytes} bytes of ingest bodies (TCA_INGEST_MAX_PENDING_BYTES) and no room ` +
      `came free within ${maxWaitSeconds} s (TCA_INGEST_MAX_WAIT_SECONDS). Nothing of this request was read or kept: ` +
      `send it again after Retry-After seconds. If this persists, the store cannot keep up with the senders: send ` +
      `fewer requests at once, or raise the limit where the machine has memory to spare`,
    details: [{ path: '$', reason: 'ingest bodies held at the limit' }],
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
}

function errorResponse(c: Context, err: unknown, logger: Logger): Response {
  if (err instanceof ApiError) {
    return c.json(err.toBody(), err.status as 400, err.headers);
  }
  const storeError = asStoreError(err);
  if (storeError) {
    const status = ({ conflict: 409, not_found: 404, invalid_input: 400 } as Record<string, number>)[
      storeError.code
    ];
    if (status !== undefined) {
      const path = typeof storeError.details['path'] === 'string' ? storeError.details['path'] : '$';
      return c.json(
        new ApiError({
          status,
          code: storeError.code,
          message: storeError.message,
          details: [{ path, reason: storeError.message }],
        }).toBody(),
        status as 400,
      );
    }
  }
  if (err instanceof z.ZodError) {
    return c.json(badRequest('Invalid request', zodDetails(err), 'validation_failed').toBody(), 400);
  }
  const unavailable = storeUnavailable(err);
  if (unavailable !== undefined) {
    logger.error({ err }, `the store cannot take work: ${unavailable}`);
    const error = new ApiError({
      status: 503,
      code: 'store_unavailable',
      message: `The service cannot store anything now: ${unavailable}. Nothing of this request was kept: send it again later (the service takes work again by itself once its operator frees disk space or brings the database back)`,
      details: [{ path: '$', reason: unavailable }],
      headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) },
    });
    return c.json(error.toBody(), 503, error.headers);
  }
  logger.error({ err }, 'unhandled error');
  return c.json(
    { error: { code: 'internal', message: 'Internal error; see the service log', details: [] } },
    500,
  );
}

/** A request body's chunks as they arrive; a reader that stops early cancels the rest of the body. */
/**
 * The next chunk of a request body, or a failure when none comes for `idleMs`: a client that went away without a word
 * must not hold its connection (and an import attempt) forever. A request's total time has no limit.
 */
async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  idleMs: number,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ApiError({
            status: 408,
            code: 'request_timeout',
            message: `Nothing of the body arrived for ${idleMs / 1000} s (TCA_IDLE_TIMEOUT_SECONDS); send it again`,
          }),
        ),
      idleMs,
    );
  });
  try {
    return await Promise.race([reader.read(), silent]);
  } finally {
    clearTimeout(timer);
  }
}

async function* chunksOf(
  body: ReadableStream<Uint8Array> | null,
  idleMs: number,
): AsyncGenerator<Uint8Array> {
  if (body === null) return;
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await readWithin(reader, idleMs);
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** The Content-Length a request declares, or null (chunked, or not a number). */
function declaredLength(headers: Headers): number | null {
  const value = headers.get('content-length');
  const n = value === null ? NaN : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function asStoreError(err: unknown): StoreError | undefined {
  return err instanceof StoreError ? err : undefined;
}

/** The Content-Encodings a JSON or NDJSON body may come in, and how each is decompressed. */
const DECODERS = {
  gzip: promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};
type BodyEncoding = keyof typeof DECODERS;

/** The request's Content-Encoding, lower case (`identity` when none). */
function contentEncoding(req: Request): string {
  return (req.headers.get('content-encoding') ?? '').trim().toLowerCase() || 'identity';
}

function unsupportedEncoding(encoding: string, accepted: string[]): ApiError {
  return new ApiError({
    status: 415,
    code: 'unsupported_media_type',
    message: `Send the body uncompressed or as ${accepted.join(', ')}`,
    details: [{ path: 'content-encoding', reason: `unsupported: ${encoding}` }],
  });
}

/**
 * The request body as UTF-8 text, at most `max` bytes, refused (413) without buffering more. A body with `Content-Encoding: gzip`, `deflate` or `br` is
 * decompressed, and the limit holds for what it decompresses to: a small body that would expand past it is refused
 * (413) before it is held in full.
 */
export async function readBody(req: Request, max: number, idleMs = 120_000): Promise<string> {
  const encoding = contentEncoding(req);
  if (encoding !== 'identity' && !(encoding in DECODERS))
    throw unsupportedEncoding(encoding, Object.keys(DECODERS));
  const declared = req.headers.get('content-length');
  const tooLarge = () =>
    payloadTooLarge(`The body is larger than ${max} bytes (TCA_MAX_BODY_BYTES); send smaller batches`, [
      { path: '$', reason: `body over ${max} bytes` },
    ]);
  if (declared !== null && Number(declared) > max) throw tooLarge();
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await readWithin(reader, idleMs).catch(async (error: unknown) => {
      await reader.cancel().catch(() => {});
      throw error;
    });
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = Buffer.concat(chunks);
  if (encoding === 'identity') return body.toString('utf8');
  try {
    return (await DECODERS[encoding as BodyEncoding](body, { maxOutputLength: max })).toString('utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw badRequest(`The body is not valid ${encoding} data`, [
      { path: 'content-encoding', reason: error instanceof Error ? error.message : String(error) },
    ]);
  }
}

/** The id of what a create returned (`{ id, … }`), for the audit trail. */
function createdId(result: unknown): string | null {
  if (result === null || typeof result !== 'object') return null;
  const { id } = result as { id?: unknown };
  return typeof id === 'string' ? id : null;
}
