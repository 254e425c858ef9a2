import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activateEmailSegment,
  profile,
  startTestService,
  waitFor,
  type Json,
  type TestService,
} from './harness.ts';

// Bursts over loopback HTTP against a service with little room. An ingest request beyond the room for bodies waits
// for it, or is refused with 503 and Retry-After having changed nothing, and is accepted when sent again once room is
// free. A file import beyond TCA_MAX_CONCURRENT_IMPORTS waits its turn, unread, and runs once the one before ends.

const SEG = 'seg-admission';

/** An NDJSON body whose first part is sent at once and whose rest waits until `finish` is called. */
function heldBody(first: string, rest: string): { body: ReadableStream<Uint8Array>; finish(): void } {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let part = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      part += 1;
      if (part === 1) return controller.enqueue(new TextEncoder().encode(first));
      await finished;
      if (part === 2) return controller.enqueue(new TextEncoder().encode(rest));
      controller.close();
    },
  });
  return { body, finish };
}

const ndjson = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) =>
    JSON.stringify(profile(`held${from + i}@example.com`, { [SEG]: 'realized' }, `held${from + i}`)),
  ).join('\n');

async function ingest(
  t: TestService,
  body: BodyInit,
  key: string,
): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await fetch(`${t.service.url}/api/v1/ingest/profiles`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.adminToken}`,
      'content-type': 'application/x-ndjson',
      'idempotency-key': key,
    },
    body,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

async function gauge(t: TestService, name: string): Promise<number> {
  const text = await (await fetch(`${t.service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

async function pendingAdds(t: TestService, dataflowId: string): Promise<number> {
  const res = await t.call('GET', `/api/v1/audiences?dataflowId=${dataflowId}`, { token: t.adminToken });
  return (res.body.items as Array<{ pendingAdds: number }>)[0]!.pendingAdds;
}

/** Starts a request whose body stays unfinished, and waits until the service has admitted it. */
async function holdRoom(t: TestService) {
  const held = heldBody(`${ndjson(0, 2)}\n`, ndjson(2, 4));
  const answer = ingest(t, held.body, 'held');
  await waitFor(async () => ((await gauge(t, 'tca_ingest_pending_bytes')) > 0 ? true : undefined));
  return { finish: held.finish, answer };
}

/** A service started with `env` for the enclosing describe, with the segment activated. */
function serviceWith(env: Record<string, string>): { t: TestService; dataflowId: string } {
  const s = {} as { t: TestService; dataflowId: string };
  beforeAll(async () => {
    s.t = await startTestService(env);
    s.dataflowId = await activateEmailSegment(s.t, {
      segmentId: SEG,
      segmentName: 'Admission',
      dataflowName: 'Admission',
      mappingName: 'Admission',
    });
  });
  afterAll(async () => {
    await s.t?.close();
  });
  return s;
}

describe('ingest with no room and no wait', () => {
  const s = serviceWith({ TCA_INGEST_MAX_PENDING_BYTES: '1024', TCA_INGEST_MAX_WAIT_SECONDS: '0' });

  it('refuses a request with 503 and Retry-After, keeping nothing of it, and takes it once room is free', async () => {
    const held = await holdRoom(s.t);
    const refused = await ingest(s.t, ndjson(10, 13), 'refused');
    expect(refused.status).toBe(503);
    // Nothing has drained yet, so no rate to estimate from: the longest wait.
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body.error).toMatchObject({
      code: 'service_busy',
      details: [{ path: '$', reason: 'ingest bodies held at the limit' }],
    });
    expect(refused.body.error.message).toMatch(/TCA_INGEST_MAX_PENDING_BYTES/);
    expect(refused.body.error.message).toMatch(/Nothing of this request was read or kept/);
    expect(await pendingAdds(s.t, s.dataflowId)).toBe(0);

    held.finish();
    const first = await held.answer;
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toMatchObject({ accepted: 4 });
    expect(await gauge(s.t, 'tca_ingest_pending_bytes')).toBe(0);

    const again = await ingest(s.t, ndjson(10, 13), 'refused');
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(again.body).toMatchObject({ accepted: 3, duplicate: false });
    expect(await pendingAdds(s.t, s.dataflowId)).toBe(7);
  });

  it('checks the token before waiting for room: a bad token gets 401, not 503', async () => {
    const held = await holdRoom(s.t);
    const res = await fetch(`${s.t.service.url}/api/v1/ingest/profiles`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope', 'content-type': 'application/x-ndjson' },
      body: ndjson(20, 21),
    });
    expect(res.status).toBe(401);
    held.finish();
    expect((await held.answer).status).toBe(202);
  });
});

describe('ingest with no room and a wait', () => {
  const s = serviceWith({ TCA_INGEST_MAX_PENDING_BYTES: '1024', TCA_INGEST_MAX_WAIT_SECONDS: '60' });

  it('holds a request until room comes free, then accepts it', async () => {
    const held = await holdRoom(s.t);
    const waiting = ingest(s.t, ndjson(10, 13), 'waiting');
    await waitFor(async () => ((await gauge(s.t, 'tca_ingest_waiting_requests')) === 1 ? true : undefined));
    expect(await pendingAdds(s.t, s.dataflowId)).toBe(0);

    held.finish();
    expect((await held.answer).status).toBe(202);
    const answer = await waiting;
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body).toMatchObject({ accepted: 3 });
    expect(await gauge(s.t, 'tca_ingest_waiting_requests')).toBe(0);
    expect(await pendingAdds(s.t, s.dataflowId)).toBe(7);
  });
});

describe('file imports beyond the ones running', () => {
  const s = serviceWith({ TCA_MAX_CONCURRENT_IMPORTS: '1' });

  const csv = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `crm-${from + i},imported${from + i}@example.com,1\n`).join(
      '',
    );
  const upload = (body: BodyInit, key: string, signal?: AbortSignal) =>
    fetch(`${s.t.service.url}/api/v1/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.t.adminToken}`,
        'content-type': 'text/csv',
        'idempotency-key': key,
      },
      body,
      duplex: 'half',
      ...(signal ? { signal } : {}),
    } as RequestInit);
  const importKeys = async () => {
    const res = await s.t.call('GET', '/api/v1/imports', { token: s.t.adminToken });
    return (res.body.imports as Array<{ key: string }>).map((i) => i.key).sort();
  };

  it('runs one at a time: the next waits unread, a client that leaves is dropped from the queue, a bad query is told at once', async () => {
    const header = `profile_key,email,segment:${SEG}\n`;
    const first = heldBody(header + csv(0, 5), csv(5, 10));
    const firstAnswer = upload(first.body, 'first');
    await waitFor(async () => ((await importKeys()).includes('first') ? true : undefined));

    const second = upload(header + csv(100, 103), 'second');
    await waitFor(async () => ((await gauge(s.t, 'tca_imports_waiting')) === 1 ? true : undefined));
    const leaving = new AbortController();
    const third = upload(header + csv(200, 201), 'third', leaving.signal).catch((e: unknown) => e);
    await waitFor(async () => ((await gauge(s.t, 'tca_imports_waiting')) === 2 ? true : undefined));
    leaving.abort();
    expect(await third).toBeInstanceOf(Error);
    await waitFor(async () => ((await gauge(s.t, 'tca_imports_waiting')) === 1 ? true : undefined));
    expect(await importKeys()).toEqual(['first']);
    // A request the service can refuse without reading it does not wait its turn to be told.
    const invalid = await fetch(`${s.t.service.url}/api/v1/imports?mode=sideways`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.t.adminToken}`, 'content-type': 'text/csv' },
      body: header + csv(300, 301),
    });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'validation_failed' } });

    first.finish();
    const firstReport = await firstAnswer;
    expect(firstReport.status).toBe(200);
    expect(await firstReport.json()).toMatchObject({ accepted: 10 });
    const secondReport = await second;
    expect(secondReport.status).toBe(200);
    expect(await secondReport.json()).toMatchObject({ accepted: 3 });
    expect(await gauge(s.t, 'tca_imports_waiting')).toBe(0);
    expect(await importKeys()).toEqual(['first', 'second']);
    expect(await pendingAdds(s.t, s.dataflowId)).toBe(13);
  });
});
