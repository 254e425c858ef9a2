import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { forwardBody } from '../../src/server/audit-forward.ts';
import { createLogger } from '../../src/server/logger.ts';
import { startService, type Service } from '../../src/server/service.ts';
import { startTestService, waitFor, type Json, type TestService } from './harness.ts';

// The audit trail pushed to a collector on loopback: every event once and in order, through refusals, across a
// hand-over between two services on one store.

interface Received {
  headers: IncomingHttpHeaders;
  events: Array<{ id: string; route: string; target: string | null }>;
}

/** A collector that answers 503 to the first `refuse` requests, then 200, keeping what it accepted. */
async function startCollector(
  refuse: number,
): Promise<{ url: string; accepted: Received[]; refused: number; close(): Promise<void> }> {
  const state = { accepted: [] as Received[], refused: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (state.refused < refuse) {
        state.refused += 1;
        res.writeHead(503).end();
        return;
      }
      const events = body
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Received['events'][number]);
      state.accepted.push({ headers: req.headers, events });
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`,
    get accepted() {
      return state.accepted;
    },
    get refused() {
      return state.refused;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let t: TestService;
let collector: Awaited<ReturnType<typeof startCollector>>;
const FORWARD = {
  TCA_ROLE: 'all',
  TCA_AUDIT_FORWARD_TOKEN: 'collector-secret',
  TCA_AUDIT_FORWARD_INTERVAL_SECONDS: '1',
  TCA_AUDIT_FEED_DELAY_MS: '0',
};

beforeAll(async () => {
  collector = await startCollector(2);
  t = await startTestService({ ...FORWARD, TCA_AUDIT_FORWARD_URL: collector.url });
});
afterAll(async () => {
  await t?.close();
  await collector?.close();
});

/** Every event of the trail, oldest first, as the feed serves it. */
async function trail(): Promise<string[]> {
  const r = await t.call('GET', '/api/v1/audit-events/feed?allSandboxes=true&limit=500', {
    token: t.adminToken,
  });
  return (r.body as { items: Array<{ id: string }> }).items.map((e) => e.id);
}
const forwarded = () => collector.accepted.flatMap((batch) => batch.events.map((e) => e.id));

describe('audit forwarding (TCA_AUDIT_FORWARD_URL)', () => {
  it('pushes every event once and in order, retrying a collector that refuses, with its token', async () => {
    for (const id of ['fwd-a', 'fwd-b', 'fwd-c'])
      expect(
        (await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id, name: id } })).status,
      ).toBe(201);
    const expected = await trail();
    expect(expected.length).toBe(3);
    await waitFor(async () => (forwarded().length >= 3 ? true : undefined), 30_000, 'the forwarded events');
    expect(collector.refused).toBe(2);
    expect(forwarded()).toEqual(expected);
    expect(collector.accepted[0]!.headers.authorization).toBe('Bearer collector-secret');
    expect(collector.accepted[0]!.headers['content-type']).toBe('application/x-ndjson');
    expect(collector.accepted[0]!.events[0]).toMatchObject({ route: '/api/v1/segments', target: 'fwd-a' });
    // The settings say where the trail goes and how far the collector took it, to tokens that may read the trail.
    const last = await t.call('GET', '/api/v1/audit-events?limit=1', { token: t.adminToken });
    const settings = await t.call('GET', '/api/v1/settings', { token: t.adminToken });
    expect((settings.body as Json).auditForward).toEqual({
      collector: collector.url,
      format: 'ndjson',
      forwardedThrough: (last.body as { items: Array<{ at: string }> }).items[0]!.at,
      waiting: 0,
    });
    // No HTTPS_PROXY here: outbound requests connect directly (the console test covers a proxy).
    expect((settings.body as Json).outboundProxy).toBeNull();
    const metrics = await (await fetch(`${t.service.url}/metrics`)).text();
    expect(metrics).toMatch(/^tca_audit_forwarded_events_total 3$/m);
    expect(metrics).toMatch(/^tca_audit_forward_failures_total 2$/m);
    // A token without Manage Tokens is not told (the fourth event: the token's creation).
    const ingest = await t.call('POST', '/api/v1/tokens', {
      token: t.adminToken,
      body: { name: 'cdp', permissions: ['Ingest Profiles'] },
    });
    const other = await t.call('GET', '/api/v1/settings', {
      token: (ingest.body as { token: string }).token,
    });
    expect(other.status).toBe(200);
    expect(other.body).not.toHaveProperty('auditForward');
    expect(other.body).not.toHaveProperty('outboundProxy');
    expect(other.body).not.toHaveProperty('alertWebhook');
    expect(other.body).not.toHaveProperty('alertPagerDuty');
  });

  it('a second service on the store waits for the lease, and carries on from the cursor when the first stops', async () => {
    let second: Service | undefined;
    try {
      second = await startService(
        loadConfig({
          ...FORWARD,
          TCA_DATA_DIR: t.dir,
          TCA_PORT: '0',
          TCA_LOG_LEVEL: 'silent',
          TCA_X_API_BASE_URL: t.emulatorUrl,
          TCA_AUDIT_FORWARD_URL: collector.url,
        }),
        { staticDir: null, logger: createLogger('silent') },
      );
      await t.call('POST', '/api/v1/segments', { token: t.adminToken, body: { id: 'fwd-d', name: 'd' } });
      await waitFor(async () => (forwarded().length >= 5 ? true : undefined), 30_000, 'event 5');
      // The first service holds the lease: it forwarded events 4 and 5, the second sent nothing.
      const counted = async (url: string) =>
        /^tca_audit_forwarded_events_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
      expect(await counted(t.service.url)).toBe('5');
      expect(await counted(second.url)).toBe('0');
      const before = collector.accepted.length;
      await t.service.close();
      const created = await fetch(`${second.url}/api/v1/segments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'fwd-e', name: 'e' }),
      });
      expect(created.status).toBe(201);
      await waitFor(async () => (forwarded().length >= 6 ? true : undefined), 30_000, 'event 6');
      expect(collector.accepted.length).toBe(before + 1);
      const all = forwarded();
      expect(new Set(all).size).toBe(all.length);
      expect(collector.accepted.at(-1)!.events.map((e) => e.target)).toEqual(['fwd-e']);
    } finally {
      await second?.close();
    }
  });

  it('formats Splunk HTTP Event Collector events', () => {
    const event = {
      id: 'aev_1',
      at: '2026-11-29T13:02:11.410Z',
      sandbox: 'prod',
      token: { id: 'tok_1', name: 'admin' },
      method: 'POST' as const,
      route: '/api/v1/segments',
      action: 'Create a segment',
      target: 'seg-1',
      status: 201,
      fields: ['id', 'name'],
    };
    const { body, contentType } = forwardBody([event, { ...event, id: 'aev_2' }], 'splunk');
    expect(contentType).toBe('application/json');
    const objects = body.split('\n').map((line) => JSON.parse(line));
    expect(objects).toEqual([
      { time: 1795957331.41, source: 'tca', sourcetype: 'tca:audit', event },
      { time: 1795957331.41, source: 'tca', sourcetype: 'tca:audit', event: { ...event, id: 'aev_2' } },
    ]);
  });
});
