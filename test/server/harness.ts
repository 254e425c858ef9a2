import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulator, defaultDemoSeed, type Emulator } from '../../src/emulator/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { startService, type Service, type StartServiceOptions } from '../../src/server/service.ts';
import { createLogger } from '../../src/server/logger.ts';

export interface TestService {
  service: Service;
  emulator: Emulator;
  emulatorUrl: string;
  adminToken: string;
  dir: string;
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as is (no JSON encoding). */
  raw?: string;
  headers?: Record<string, string>;
}

/** Parsed JSON bodies in tests: shapes are asserted, not typed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface CallResult {
  status: number;
  body: Json;
  headers: Headers;
}

/** Calls the service at `url` as `TestService.call` does. */
export function callerFor(url: string): TestService['call'] {
  return async (method: string, path: string, o: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/**
 * A real service on loopback (temp SQLite dir) with a real emulator on loopback. `xNow` is X's clock (the real one by
 * default): a test that moves the service's clock moves X's with it, or its OAuth timestamps fall out of X's window.
 * `xProcessingDelayMs` is how long X reports an audience PROCESSING after it changes (none by default).
 */
export async function startTestService(
  env: Record<string, string> = {},
  {
    xNow,
    xProcessingDelayMs = 0,
    ...options
  }: StartServiceOptions & { xNow?: () => number; xProcessingDelayMs?: number } = {},
): Promise<TestService> {
  const dir = await mkdtemp(join(tmpdir(), 'tca-server-'));
  const emulator = createEmulator({
    seed: defaultDemoSeed(),
    processingDelayMs: xProcessingDelayMs,
    ...(xNow ? { now: xNow } : {}),
  });
  const running = await emulator.listen({ port: 0, host: '127.0.0.1' });
  const config = loadConfig({
    TCA_DATA_DIR: dir,
    TCA_PORT: '0',
    TCA_LOG_LEVEL: 'silent',
    TCA_X_API_BASE_URL: running.url,
    TCA_ROLE: 'api',
    ...env,
  });
  const service = await startService(config, {
    validateResponses: true,
    staticDir: null,
    logger: createLogger('silent'),
    ...options,
  });
  const call = callerFor(service.url);
  return {
    service,
    emulator,
    emulatorUrl: running.url,
    adminToken: service.adminToken!,
    dir,
    call,
    async close() {
      await service.close();
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const DEMO = (() => {
  const seed = defaultDemoSeed();
  return {
    accountId: seed.accounts[0]!.id,
    credentials: {
      consumerKey: seed.apps[0]!.consumer_key,
      consumerSecret: seed.apps[0]!.consumer_secret,
      accessToken: seed.users[0]!.token,
      accessTokenSecret: seed.users[0]!.token_secret,
    },
  };
})();

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function profile(
  email: string,
  segments: Record<string, 'realized' | 'existing' | 'exited'>,
  ecid?: string,
) {
  return {
    identityMap: { ...(ecid ? { ECID: [{ id: ecid }] } : {}), Email: [{ id: email }] },
    segmentMembership: {
      ups: Object.fromEntries(
        Object.entries(segments).map(([k, status]) => [
          k,
          { status, lastQualificationTime: '2026-01-01T00:00:00Z' },
        ]),
      ),
    },
  };
}

/**
 * Registers a segment, a destination on the emulator's demo account and a dataflow activating the segment with
 * Email → email (transformed); returns the dataflow id.
 */
export async function activateEmailSegment(
  t: TestService,
  input: { segmentId: string; segmentName: string; dataflowName: string; mappingName: string },
): Promise<string> {
  const token = t.adminToken;
  await t.call('POST', '/api/v1/segments', { token, body: { id: input.segmentId, name: input.segmentName } });
  const d = await t.call('POST', '/api/v1/destinations', {
    token,
    body: { name: 'Acme', accountId: DEMO.accountId, credentials: DEMO.credentials, alertWebhookUrl: null },
  });
  const df = await t.call('POST', '/api/v1/dataflows', {
    token,
    body: {
      name: input.dataflowName,
      destinationId: d.body.id,
      mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
      audiences: [{ segmentId: input.segmentId, mappingName: input.mappingName }],
    },
  });
  if (df.status !== 201) throw new Error(`dataflow not created: ${df.status} ${JSON.stringify(df.body)}`);
  return df.body.id as string;
}

/** Delivers the dataflow's pending changes, then the hashed emails X holds for its audience of `segmentId`, sorted. */
export async function emailsAtX(t: TestService, dataflowId: string, segmentId: string): Promise<string[]> {
  const token = t.adminToken;
  const flushed = await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token });
  if (flushed.status !== 200)
    throw new Error(`flush failed: ${flushed.status} ${JSON.stringify(flushed.body)}`);
  const audiences = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token });
  const audience = (audiences.body.items as Array<{ segmentId: string; xAudienceId: string }>).find(
    (a) => a.segmentId === segmentId,
  )!;
  return t.emulator.admin
    .members(DEMO.accountId, audience.xAudienceId)
    .flatMap((m) => (m as { email?: string[] }).email ?? [])
    .sort();
}
