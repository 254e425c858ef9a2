import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, startTestService, waitFor, type Json, type TestService } from './harness.ts';

// Long uploads over loopback HTTP: a request may take as long as it needs while bytes keep coming, and a connection
// silent for TCA_IDLE_TIMEOUT_SECONDS is closed, so its import stops and can be resumed.

let t: TestService;
const SEG = 'seg-idle';
const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `crm-${from + i},idle.${from + i}@example.com,1\n`).join('');

beforeAll(async () => {
  t = await startTestService({ TCA_IDLE_TIMEOUT_SECONDS: '1' });
  await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'Idle',
    dataflowName: 'Idle uploads',
    mappingName: 'Idle uploads',
  });
});
afterAll(async () => {
  await t?.close();
});

/** A CSV upload whose parts arrive `pauseMs` apart; `stallAfter` parts, it goes silent for good. */
function trickle(parts: string[], pauseMs: number, stallAfter = Infinity): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= stallAfter) return new Promise<void>(() => undefined);
      if (sent > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      if (sent >= parts.length) return controller.close();
      controller.enqueue(new TextEncoder().encode(parts[sent]!));
      sent += 1;
    },
  });
}

async function upload(
  body: ReadableStream<Uint8Array>,
  key: string,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.service.url}/api/v1/imports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'text/csv', 'idempotency-key': key },
    body,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as Json };
}

describe('HTTP timeouts', () => {
  it('answers 408 to an ingest body that stops arriving', async () => {
    const res = await fetch(`${t.service.url}/api/v1/ingest/profiles`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
      body: trickle(['[{"identityMap":'], 0, 1),
      duplex: 'half',
    } as RequestInit).then(
      async (r) => ({ status: r.status, body: (await r.json()) as Json }),
      () => null,
    );
    expect(res).toMatchObject({ status: 408, body: { error: { code: 'request_timeout' } } });
  });

  it('lets an upload run longer than the idle timeout while its bytes keep coming', async () => {
    // Ten parts 400 ms apart: about 3.6 s in all, against a 1 s idle timeout.
    const parts = [
      `profile_key,email,segment:${SEG}\n`,
      ...Array.from({ length: 9 }, (_, k) => rows(k * 10, k * 10 + 10)),
    ];
    const started = Date.now();
    const res = await upload(trickle(parts, 400), 'slow-but-steady');
    expect(Date.now() - started).toBeGreaterThan(3000);
    expect(res).toMatchObject({ status: 200, body: { rowsRead: 90, accepted: 90 } });
  });

  it('closes a connection that goes silent, and its import stops (interrupted) instead of staying running', async () => {
    const parts = [`profile_key,email,segment:${SEG}\n${rows(100, 110)}`];
    // The service stops reading after a second of silence: the client sees a refusal or a cut connection.
    const outcome = await upload(trickle(parts, 0, 1), 'gone-silent').then(
      (r) => r.status,
      () => 'cut',
    );
    expect(outcome).not.toBe(200);
    const stopped = await waitFor(
      async () => {
        const r = await t.call('GET', '/api/v1/imports/gone-silent', { token: t.adminToken });
        return r.status === 200 && r.body.status === 'interrupted' ? r.body : undefined;
      },
      20_000,
      'the silent import to stop',
    );
    expect(stopped).toMatchObject({ attempts: 1, finishedAt: null });
  });
});
