import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateEmailSegment, emailsAtX, startTestService, type TestService } from './harness.ts';

// URL imports (POST /api/v1/imports/url): the service reads a file from an object store's presigned URL, played by
// an HTTP server on loopback, only on the origins TCA_IMPORT_URL_ALLOW lists, redirects included.

let t: TestService;
let files: Server;
let origin: string;
let dataflowId: string;
/** Requests the file server answered: method and path with query. */
const served: string[] = [];
const SEG = 'seg-url';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const csv = (from: number, to: number) =>
  [
    'profile_key,email,segment:' + SEG,
    ...Array.from({ length: to - from }, (_, k) => `crm-${from + k},p${from + k}@example.com,1`),
  ].join('\n') + '\n';

const OBJECTS: Record<string, { body: Buffer; type: string; etag: string }> = {
  '/exports/vip.csv': { body: Buffer.from(csv(0, 5)), type: 'binary/octet-stream', etag: '"v1"' },
  '/exports/more.csv.gz': { body: gzipSync(csv(5, 8)), type: 'application/gzip', etag: '"v2"' },
  '/exports/people': {
    body: Buffer.from(
      JSON.stringify([
        {
          identityMap: { Email: [{ id: 'json@example.com' }] },
          segmentMembership: { ups: { [SEG]: { status: 'realized' } } },
        },
      ]),
    ),
    type: 'application/json; charset=utf-8',
    etag: '"v3"',
  },
  // An export that came out empty.
  '/exports/empty.csv': { body: Buffer.alloc(0), type: 'text/csv', etag: '"v6"' },
  // Half its rows rejected (a segment cell that is not a membership).
  '/exports/half-broken.csv': {
    body: Buffer.from(
      `profile_key,email,segment:${SEG}\ncrm-0,p0@example.com,1\ncrm-1,p1@example.com,perhaps\ncrm-2,p2@example.com,maybe\ncrm-3,p3@example.com,1\n`,
    ),
    type: 'text/csv',
    etag: '"v5"',
  },
};

const importUrl = (body: Record<string, unknown>) =>
  t.call('POST', '/api/v1/imports/url', { token: t.adminToken, body });

beforeAll(async () => {
  files = createServer((req, res) => {
    served.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://files');
    if (url.pathname === '/moved')
      return void res.writeHead(302, { location: '/exports/vip.csv?sig=moved' }).end();
    // Another loopback address, not on the list: never requested.
    if (url.pathname === '/away')
      return void res.writeHead(302, { location: `http://127.0.0.2:${url.port || 1}/exports/vip.csv` }).end();
    const object = OBJECTS[url.pathname];
    if (url.searchParams.get('sig') === 'expired' || !object)
      return void res.writeHead(object ? 403 : 404, { 'content-type': 'application/xml' }).end('<Error/>');
    res
      .writeHead(200, {
        'content-type': object.type,
        'content-length': object.body.length,
        etag: object.etag,
      })
      .end(object.body);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  t = await startTestService({ TCA_IMPORT_URL_ALLOW: `${origin}, https://*.s3.amazonaws.com` });
  dataflowId = await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'VIP',
    dataflowName: 'Object store to X',
    mappingName: 'VIP from the warehouse',
  });
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => files?.close(r));
});

describe('URL imports', () => {
  it('says which origins URL imports may read', async () => {
    const settings = await t.call('GET', '/api/v1/settings', { token: t.adminToken });
    expect(settings.body.importUrls).toEqual({ origins: [origin, 'https://*.s3.amazonaws.com'] });
  });

  it('imports a presigned CSV, gzip or not, and a JSON array by its media type; X gets every member', async () => {
    const first = await importUrl({ url: `${origin}/exports/vip.csv?sig=abc&X-Amz-Signature=secret` });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ format: 'csv', rowsRead: 5, accepted: 5, rejectedCount: 0 });
    expect(first.body.key).toMatch(/^url-[0-9a-f]{32}$/);
    const gz = await importUrl({ url: `${origin}/exports/more.csv.gz?sig=abc` });
    expect(gz.body).toMatchObject({ format: 'csv', rowsRead: 3, accepted: 3 });
    const json = await importUrl({ url: `${origin}/exports/people?sig=abc` });
    expect(json.body).toMatchObject({ format: 'json', rowsRead: 1, accepted: 1 });
    expect(new Set(await emailsAtX(t, dataflowId, SEG))).toEqual(
      new Set([...Array.from({ length: 8 }, (_, i) => sha(`p${i}@example.com`)), sha('json@example.com')]),
    );

    // The same object again (another signature): the completed import's report, nothing read twice.
    const before = served.length;
    const again = await importUrl({ url: `${origin}/exports/vip.csv?sig=other` });
    expect(again.body).toMatchObject({ key: first.body.key, rowsRead: 5, replayed: true });
    expect(served.length).toBe(before + 1);
    // Its record holds no URL, and no credential anywhere.
    const record = await t.call('GET', `/api/v1/imports/${first.body.key}`, { token: t.adminToken });
    expect(record.body.status).toBe('complete');
    expect(JSON.stringify(record.body)).not.toContain('secret');

    // A file it cannot import is named by its URL without the query, not as "the upload".
    const empty = await importUrl({ url: `${origin}/exports/empty.csv?X-Amz-Signature=secret` });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({
      code: 'invalid_file',
      message: expect.stringContaining(
        `${origin}/exports/empty.csv is empty: a CSV file starts with its header row`,
      ),
      details: [{ path: `${origin}/exports/empty.csv`, reason: 'no header row' }],
    });
    expect(JSON.stringify(empty.body)).not.toContain('secret');
  });

  it('follows a redirect on an allowed origin, and mirrors a segment from a URL', async () => {
    const mirrored = await importUrl({
      url: `${origin}/moved`,
      mode: 'mirror',
      segmentId: SEG,
      key: 'mirror-from-url',
    });
    expect(mirrored.status, JSON.stringify(mirrored.body)).toBe(200);
    expect(mirrored.body).toMatchObject({ key: 'mirror-from-url', mode: 'mirror', rowsRead: 5 });
    expect(mirrored.body.removed).toBeGreaterThanOrEqual(4);
    expect(served).toContain('GET /exports/vip.csv?sig=moved');
    expect(new Set(await emailsAtX(t, dataflowId, SEG))).toEqual(
      new Set(Array.from({ length: 5 }, (_, i) => sha(`p${i}@example.com`))),
    );
  });

  it('removes nobody from a mirror file with too many rejected rows, unless the import allows that many', async () => {
    const mirror = { url: `${origin}/exports/half-broken.csv`, mode: 'mirror', segmentId: SEG };
    const guarded = await importUrl({ ...mirror, key: 'half-broken-1' });
    expect(guarded.body).toMatchObject({ rowsRead: 4, accepted: 2, rejectedCount: 2, removed: 0 });
    expect(guarded.body.removalSkipped).toContain('2 of 4 rows were rejected (more than 5%)');
    expect((await emailsAtX(t, dataflowId, SEG)).length).toBe(5);
    const allowed = await importUrl({ ...mirror, key: 'half-broken-2', maxRejectedPercent: 50 });
    expect(allowed.body).toMatchObject({ rejectedCount: 2, removed: 3, removalSkipped: null });
    expect(new Set(await emailsAtX(t, dataflowId, SEG))).toEqual(
      new Set([sha('p0@example.com'), sha('p3@example.com')]),
    );
    const bad = await importUrl({ ...mirror, maxRejectedPercent: 101 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('maxRejectedPercent');
  });

  it('refuses what it may not read, naming the URL without its query, and fetches nothing it refuses', async () => {
    const before = served.length;
    const elsewhere = await importUrl({ url: 'https://files.example.com/vip.csv?token=secret' });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error.details[0]).toMatchObject({ path: 'url' });
    expect(elsewhere.body.error.details[0].reason).toContain(
      `https://files.example.com is not an origin this service may read (TCA_IMPORT_URL_ALLOW: ${origin}, https://*.s3.amazonaws.com)`,
    );
    const s3 = await importUrl({ url: 's3://exports/vip.csv' });
    expect(s3.body.error.details[0].reason).toContain('aws s3 presign');
    // Mirror mode without a segment: refused before anything is fetched.
    const noSegment = await importUrl({ url: `${origin}/exports/vip.csv`, mode: 'mirror' });
    expect(noSegment.body.error.details[0]).toMatchObject({ path: 'segmentId' });
    expect(served.length).toBe(before);

    const away = await importUrl({ url: `${origin}/away` });
    expect(away.status).toBe(400);
    expect(away.body.error.details[0].reason).toContain(`${origin}/away redirects to http://127.0.0.2`);
    const expired = await importUrl({ url: `${origin}/exports/vip.csv?sig=expired&X-Amz-Signature=secret` });
    expect(expired.status).toBe(400);
    expect(expired.body.error.details[0].reason).toBe(
      `${origin}/exports/vip.csv answered HTTP 403 (a presigned URL that expired, or was signed for another object?)`,
    );
    expect(JSON.stringify(expired.body)).not.toContain('secret');
    expect(served.slice(before)).toEqual([
      'GET /away',
      'GET /exports/vip.csv?sig=expired&X-Amz-Signature=secret',
    ]);
  });
});
