import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activateEmailSegment,
  emailsAtX,
  startTestService,
  waitFor,
  type Json,
  type TestService,
} from './harness.ts';
import { postImport } from '../../src/cli/commands/import.ts';
import type { Api } from '../../src/cli/commands/api-client.ts';

// File imports streamed to POST /api/v1/imports over loopback HTTP, into the real store, delivered to the emulator.

let t: TestService;
let dataflowId: string;
const SEG = 'seg-vip';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A CSV of members `from`..`to` (exclusive); each row's email carries a multibyte name, so chunk cuts split them. */
function csv(from: number, to: number): string {
  const rows = ['profile_key,email,segment:' + SEG];
  for (let i = from; i < to; i += 1) rows.push(`crm-${i},Zoë.${i}@Example.com,1`);
  return rows.join('\n') + '\n';
}
const emailHash = (i: number) => sha(`zoë.${i}@example.com`);

/** The body as a stream of `size`-byte chunks, sent chunked (no Content-Length); `failAfter` bytes then an error. */
function chunked(text: string | Buffer, size: number, failAfter?: number): ReadableStream<Uint8Array> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (failAfter !== undefined && at >= failAfter) {
        controller.error(new Error('client went away'));
        return;
      }
      if (at >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(new Uint8Array(bytes.subarray(at, at + size)));
      at += size;
    },
  });
}

async function upload(
  query: string,
  body: string | ReadableStream<Uint8Array>,
  contentType = 'text/csv',
  key?: string,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${t.service.url}/api/v1/imports${query}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${t.adminToken}`,
      'content-type': contentType,
      ...(key !== undefined ? { 'idempotency-key': key } : {}),
    },
    body,
    ...(typeof body === 'string' ? {} : { duplex: 'half' }),
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as Json };
}

/** The emails X holds for the dataflow's audience, after a flush. */
const membersAtX = async () => new Set(await emailsAtX(t, dataflowId, SEG));

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

beforeAll(async () => {
  // A small body limit: uploads are streamed, so it does not apply to them.
  t = await startTestService({ TCA_MAX_BODY_BYTES: '65536' });
  dataflowId = await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'VIP',
    dataflowName: 'CRM file to X',
    mappingName: 'VIP from CRM',
  });
});

afterAll(async () => {
  await t?.close();
});

describe('POST /api/v1/imports', () => {
  it('imports a CSV upload larger than the body limit, streamed in odd-sized chunks, and X ends with its members', async () => {
    const text = csv(0, 3000);
    expect(Buffer.byteLength(text)).toBeGreaterThan(65536);
    const r = await upload('', chunked(text, 777));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ format: 'csv', mode: 'incremental', rowsRead: 3000, accepted: 3000 });
    expect(r.body.rejectedCount).toBe(0);
    expect(await membersAtX()).toEqual(new Set(range(0, 3000).map(emailHash)));
  });

  it('mirror mode: members absent from the file leave the audience at X', async () => {
    // 1000–3999: rows 0–999 are absent (removed), 3000–3999 are new.
    const r = await upload(`?mode=mirror&segmentId=${SEG}`, csv(1000, 4000));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      mode: 'mirror',
      rowsRead: 3000,
      accepted: 3000,
      removed: 1000,
      truncated: false,
    });
    expect(await membersAtX()).toEqual(new Set(range(1000, 4000).map(emailHash)));
  });

  it('reports rejected rows with their line numbers and imports the rest', async () => {
    const text = `profile_key,email,segment:${SEG}\ncrm-9000,Zoë.9000@Example.com,1\ncrm-9001,Zoë.9001@Example.com,maybe\n`;
    const r = await upload('', text);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ rowsRead: 2, accepted: 1, rejectedCount: 1 });
    expect(r.body.rejected[0].line).toBe(3);
  });

  it('warns of a segment column no dataflow of the sandbox activates, and imports its rows all the same', async () => {
    const text = `profile_key,email,segment:${SEG},segment:seg-typo\ncrm-9100,Zoë.9100@Example.com,1,1\n`;
    const r = await upload('', text, 'text/csv', 'unactivated-column');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ rowsRead: 1, accepted: 1, rejectedCount: 0 });
    expect(r.body.warnings).toEqual([
      {
        code: 'segment_not_activated',
        segmentIds: ['seg-typo'],
        columns: ['segment:seg-typo'],
        message: expect.stringContaining(
          'No dataflow of this sandbox activates segment seg-typo (column "segment:seg-typo"): the rows were imported',
        ),
      },
    ]);
    const stored = await t.call('GET', '/api/v1/imports/unactivated-column', { token: t.adminToken });
    expect(stored.body.report.warnings).toEqual(r.body.warnings);
    expect((await membersAtX()).has(emailHash(9100))).toBe(true);
    // Every segment column activated: no warning.
    const quiet = await upload('', `profile_key,email,segment:${SEG}\ncrm-9101,Zoë.9101@Example.com,1\n`);
    expect(quiet.body.warnings).toEqual([]);
  });

  it('takes NDJSON and JSON arrays by content type', async () => {
    const exportOf = (i: number) => ({
      identityMap: { CRMID: [{ id: `crm-${i}` }], Email: [{ id: `Zoë.${i}@Example.com` }] },
      segmentMembership: { ups: { [SEG]: { status: 'realized' } } },
    });
    const nd = await upload(
      '',
      chunked([4000, 4001].map((i) => JSON.stringify(exportOf(i))).join('\n'), 5),
      'application/x-ndjson',
    );
    expect(nd.body).toMatchObject({ format: 'ndjson', rowsRead: 2, accepted: 2 });
    const arr = await upload('', JSON.stringify([exportOf(4002)]), 'application/json');
    expect(arr.body).toMatchObject({ format: 'json', rowsRead: 1, accepted: 1 });
    // NDJSON's other names, as the ingest endpoint takes them.
    for (const [i, type] of [
      [4003, 'application/ndjson'],
      [4004, 'application/jsonl'],
    ] as const) {
      const other = await upload('', JSON.stringify(exportOf(i)), type);
      expect(other.body, type).toMatchObject({ format: 'ndjson', rowsRead: 1, accepted: 1 });
    }
    const atX = await membersAtX();
    for (const i of [4000, 4001, 4002, 4003, 4004]) expect(atX.has(emailHash(i))).toBe(true);
  });

  it('takes a gzip upload as its content, whatever its type says', async () => {
    const r = await upload('', chunked(gzipSync(csv(6000, 6500)), 97));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ format: 'csv', rowsRead: 500, accepted: 500, rejectedCount: 0 });
    const atX = await membersAtX();
    for (const i of [6000, 6250, 6499]) expect(atX.has(emailHash(i))).toBe(true);
  });

  it('rejects only the row of a stray quote, and ends the import at a quote never closed, naming the row by the line it starts on', async () => {
    const after = csv(12000, 12010).split('\n').slice(1).join('\n');
    // A quote after a quoted value's end is read as part of the value, as spreadsheets read it: its row alone is
    // rejected (here it also lacks a cell), and the rows after it are imported.
    const r = await upload('', `${csv(7000, 12000)}bqX,"bad@example.com"x\n${after}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ rowsRead: 5011, accepted: 5010, rejectedCount: 1, truncated: false });
    expect(r.body.rejected).toEqual([
      { line: 5002, errors: [{ path: 'row', reason: 'has 2 cells; the header has 3' }] },
    ]);
    const atX = await membersAtX();
    for (const i of range(7000, 12010)) expect(atX.has(emailHash(i)), String(i)).toBe(true);

    // A quote never closed: the parser meets the end of the file inside it, but the row starts on line 3.
    const unclosed = await upload('', `${csv(12020, 12021)}k2,"a2@example.com\n${after}`);
    expect(unclosed.body).toMatchObject({ rowsRead: 2, accepted: 1, rejectedCount: 1, truncated: true });
    expect(unclosed.body.rejected).toEqual([
      {
        line: 3,
        errors: [
          {
            path: 'line 3',
            reason: 'Quote Not Closed: a quoted value of this row is not closed before the end of the file',
          },
        ],
      },
    ]);
  });

  it('refuses what it cannot import, with what to fix, and changes nothing', async () => {
    const before = await membersAtX();
    const type = await upload('', csv(5000, 5010), 'text/plain');
    expect(type.status).toBe(415);
    // A streamed upload is gzip or plain: another encoding would be read as garbage.
    const brotli = await fetch(`${t.service.url}/api/v1/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.adminToken}`,
        'content-type': 'text/csv',
        'content-encoding': 'br',
      },
      body: csv(5000, 5010),
    });
    expect(brotli.status).toBe(415);
    expect(((await brotli.json()) as Json).error.details).toEqual([
      { path: 'content-encoding', reason: 'unsupported: br' },
    ]);
    expect(type.body.error.details[0]).toEqual({ path: 'content-type', reason: 'unsupported: text/plain' });

    const noSegment = await upload('?mode=mirror', csv(5000, 5010));
    expect(noSegment.status).toBe(400);
    expect(noSegment.body.error.details[0].path).toBe('segmentId');
    const unknown = await upload('?mode=mirror&segmentId=seg-nope', csv(5000, 5010));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].reason).toContain('seg-nope');

    const header = await upload('', 'email,favourite colour\nzoe@example.com,blue\n');
    expect(header.status).toBe(400);
    expect(header.body.error.code).toBe('invalid_file');
    expect(header.body.error.details.length).toBeGreaterThan(0);

    const array = await upload('', '{"not":"an array"}', 'application/json');
    expect(array.status).toBe(400);
    expect(array.body.error.code).toBe('invalid_file');

    // A misspelt option would import the whole file under the default: refused before the body is read.
    const misspelt = await upload(`?mode=mirror&segmentid=${SEG}&keynamespace=ECID`, csv(5000, 5010));
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error).toMatchObject({
      code: 'validation_failed',
      details: [
        { path: 'query.segmentid', reason: 'unknown parameter: did you mean "segmentId"?' },
        { path: 'query.keynamespace', reason: 'unknown parameter: did you mean "keyNamespace"?' },
      ],
    });
    // Two arrays joined: the second would be dropped in silence.
    const joined = await upload(
      '',
      `[{"segmentMembership":{},"identityMap":{}}]\n[{"segmentMembership":{},"identityMap":{}}]\n`,
      'application/json',
    );
    expect(joined.status).toBe(400);
    expect(joined.body.error).toMatchObject({
      code: 'invalid_file',
      details: [{ path: 'after item 1', reason: 'the file goes on after the array\'s closing "]"' }],
    });

    // An empty CSV has no header; in mirror mode, a file without rows would remove every member.
    for (const query of ['', `?mode=mirror&segmentId=${SEG}`]) {
      const empty = await upload(query, '');
      expect(empty.status).toBe(400);
      expect(empty.body.error).toMatchObject({
        code: 'invalid_file',
        details: [{ path: 'the upload', reason: 'no header row' }],
      });
    }
    for (const [text, type] of [
      ['', 'application/x-ndjson'],
      ['[]', 'application/json'],
      [`profile_key,email,segment:${SEG}\n`, 'text/csv'],
    ] as const) {
      const none = await upload(`?mode=mirror&segmentId=${SEG}`, text, type);
      expect(none.status, type).toBe(400);
      expect(none.body.error).toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining(
          `the upload has no rows: in mirror mode it would remove every member`,
        ),
        details: [{ path: 'the upload', reason: expect.stringContaining('no rows') }],
      });
    }
    expect(await membersAtX()).toEqual(before);
  });

  it('names an upload by the file name its Content-Disposition gives, as tca import sends it', async () => {
    const api: Api = {
      request: () => Promise.reject(new Error('not used')),
      raw: (method, path, body, headers) =>
        fetch(`${t.service.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${t.adminToken}`, ...headers },
          body,
          duplex: 'half',
        } as RequestInit),
    };
    const res = await postImport(api, Readable.from([Buffer.alloc(0)]), {
      format: 'csv',
      mode: 'incremental',
      name: 'membres été.csv',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error).toMatchObject({
      code: 'invalid_file',
      message: expect.stringContaining('membres été.csv is empty: a CSV file starts with its header row'),
      details: [{ path: 'membres été.csv', reason: 'no header row' }],
    });
    // The plain form, with a path: only the file's own name.
    const named = await fetch(`${t.service.url}/api/v1/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.adminToken}`,
        'content-type': 'application/json',
        'content-disposition': 'attachment; filename="C:\\exports\\members.json"',
      },
      body: '[{"segmentMembership":{},"identityMap":{}}] [',
    });
    expect(named.status).toBe(400);
    expect(((await named.json()) as Json).error.message).toMatch(
      /^members\.json is not a JSON array: the file goes on/,
    );
  });

  it('answers 409 import_running with Retry-After while an attempt under the key is still reading', async () => {
    const text = csv(5000, 5010);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let sent = false;
    const stalled = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent) {
          await gate;
          controller.enqueue(new Uint8Array(Buffer.from(text.slice(60))));
          controller.close();
          return;
        }
        sent = true;
        controller.enqueue(new Uint8Array(Buffer.from(text.slice(0, 60))));
      },
    });
    const first = upload('', stalled, 'text/csv', 'live-1');
    await waitFor(
      async () => {
        const r = await t.call('GET', '/api/v1/imports/live-1', { token: t.adminToken });
        return r.status === 200 && r.body.status === 'running' ? true : undefined;
      },
      20_000,
      'the first attempt to start',
    );
    const res = await fetch(`${t.service.url}/api/v1/imports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.adminToken}`,
        'content-type': 'text/csv',
        'idempotency-key': 'live-1',
      },
      body: text,
    });
    expect(res.status).toBe(409);
    const seconds = Number(res.headers.get('retry-after'));
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(((await res.json()) as Json).error).toMatchObject({ code: 'import_running' });
    release();
    expect(await first).toMatchObject({ status: 200, body: { key: 'live-1', rowsRead: 10, attempts: 1 } });
  });

  it('an upload cut off before its end removes nothing in mirror mode, and resumes with its key', async () => {
    const before = await membersAtX();
    const importOf = (key: string) => t.call('GET', `/api/v1/imports/${key}`, { token: t.adminToken });
    // Only rows 1000–1599 are in the part that arrives: a complete file would remove everyone else.
    const text = csv(1000, 4000);
    await expect(
      upload(`?mode=mirror&segmentId=${SEG}`, chunked(text, 100, 100 * 250), 'text/csv', 'members-1'),
    ).rejects.toThrow();
    // The service answers the cut-off upload with a 400 nobody reads; wait for the import to say it stopped.
    const stopped = await waitFor(
      async () => {
        const r = await importOf('members-1');
        return r.status === 200 && r.body.status === 'interrupted' ? r.body : undefined;
      },
      20_000,
      'the interrupted import',
    );
    expect(stopped).toMatchObject({ mode: 'mirror', segmentId: SEG, attempts: 1, finishedAt: null });
    expect(stopped.error).toContain('Reading the upload failed');
    expect(await membersAtX()).toEqual(before);

    // The same file again under its key: the rows written are skipped, the rest imported, the absent removed.
    const resumed = await upload(
      `?mode=mirror&segmentId=${SEG}`,
      chunked(text, 4096),
      'text/csv',
      'members-1',
    );
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(resumed.body).toMatchObject({
      key: 'members-1',
      attempts: 2,
      replayed: false,
      rowsRead: 3000,
      accepted: 3000,
      rejectedCount: 0,
    });
    expect(resumed.body).not.toHaveProperty('thisCall');
    expect(await membersAtX()).toEqual(new Set(range(1000, 4000).map(emailHash)));
    const seen = await t.service.store.db
      .selectFrom('engine_import_seen')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(seen.n)).toBe(0);

    // Once complete, the key answers with the report, reading nothing; another file under it is refused.
    const again = await upload(`?mode=mirror&segmentId=${SEG}`, csv(0, 10), 'text/csv', 'members-1');
    expect(again.body).toMatchObject({ key: 'members-1', replayed: true, rowsRead: 3000 });
    const listed = await t.call('GET', '/api/v1/imports?limit=3', { token: t.adminToken });
    expect(listed.body.imports[0]).toMatchObject({
      key: 'members-1',
      status: 'complete',
      rowsCommitted: 3000,
    });
    const differs = await upload('?mode=incremental', csv(0, 10), 'text/csv', 'members-1');
    expect(differs.status).toBe(409);
    expect(differs.body.error).toMatchObject({
      code: 'import_conflict',
      details: [
        { path: 'mode', reason: 'was mirror, now incremental' },
        { path: 'segmentId', reason: `was ${SEG}, now none` },
      ],
    });
    expect((await importOf('nope')).status).toBe(404);

    // The metrics count the imports kept, by status, as the list shows them.
    const all = (await t.call('GET', '/api/v1/imports?limit=500', { token: t.adminToken })).body
      .imports as Array<{
      status: string;
    }>;
    const metrics = await (await fetch(`${t.service.url}/metrics`)).text();
    for (const status of ['running', 'interrupted', 'failed', 'complete']) {
      const line = metrics.split('\n').find((l) => l.startsWith(`tca_imports{status="${status}"}`));
      expect(Number(line?.split(' ').at(-1)), status).toBe(all.filter((i) => i.status === status).length);
    }
    expect(all.filter((i) => i.status === 'complete').length).toBeGreaterThan(3);
  });
});
