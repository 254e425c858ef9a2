import { createHash } from 'node:crypto';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RangedUrl } from '../../src/server/import-url.ts';
import { startObjectServer } from '../fixtures/object-server.ts';
import { activateEmailSegment, emailsAtX, startTestService, type TestService } from './harness.ts';

// A Parquet file behind a presigned URL (POST /api/v1/imports/url): the service reads it from its end, by byte ranges,
// from an object store played by a loopback server.

const SEG = 'seg-parquet-url';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let t: TestService;
let objects: Awaited<ReturnType<typeof startObjectServer>>;
let dataflowId: string;

/** A profile export as Parquet, in row groups of `groupSize` rows. */
function profilesParquet(keys: string[], groupSize: number): Buffer {
  return Buffer.from(
    parquetWriteBuffer({
      columnData: [
        { name: 'profile_key', data: keys, type: 'STRING' },
        { name: 'email', data: keys.map((k) => `${k}@example.com`), type: 'STRING' },
        { name: `segment:${SEG}`, data: keys.map(() => true), type: 'BOOLEAN' },
      ],
      rowGroupSize: groupSize,
    }),
  );
}

const importUrl = (body: Record<string, unknown>) =>
  t.call('POST', '/api/v1/imports/url', { token: t.adminToken, body });

beforeAll(async () => {
  objects = await startObjectServer();
  const origin = new URL(objects.url('/')).origin;
  t = await startTestService({ TCA_IMPORT_URL_ALLOW: origin });
  dataflowId = await activateEmailSegment(t, {
    segmentId: SEG,
    segmentName: 'Parquet members',
    dataflowName: 'Parquet export to X',
    mappingName: 'Parquet members',
  });
});

afterAll(async () => {
  await t?.close();
  await objects?.close();
});

describe('URL imports of Parquet', () => {
  it('reads a Parquet file by byte ranges, from the version it opened, and X gets every member', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `pq-${i}`);
    objects.put('/exports/members.parquet', { body: profilesParquet(keys, 3) });
    const before = objects.requests.length;
    const r = await importUrl({ url: objects.url('/exports/members.parquet') });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ format: 'parquet', rowsRead: 7, accepted: 7, rejectedCount: 0 });
    expect(JSON.stringify(r.body)).not.toContain('signature=');
    const requests = objects.requests.slice(before);
    // One GET that opened it (its body left unread), then ranges only: the footer, then the row groups.
    expect(requests[0]).toMatchObject({ range: null, status: 200 });
    expect(requests.length).toBeGreaterThan(2);
    for (const request of requests.slice(1))
      expect(request).toMatchObject({ status: 206, range: expect.stringMatching(/^bytes=\d+-\d+$/) });
    await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
    expect(new Set(await emailsAtX(t, dataflowId, SEG))).toEqual(
      new Set(keys.map((k) => sha(`${k}@example.com`))),
    );

    // The same object again: the import's report, nothing read but the opening GET.
    const again = await importUrl({ url: objects.url('/exports/members.parquet') });
    expect(again.body).toMatchObject({ replayed: true, rowsRead: 7 });
  });

  it('stops, saying why, when the server does not serve byte ranges', async () => {
    objects.put('/exports/whole-only.parquet', { body: profilesParquet(['w-0', 'w-1'], 1), ranges: false });
    const r = await importUrl({ url: objects.url('/exports/whole-only.parquet') });
    expect(r.status).toBe(400);
    expect(r.body.error.details[0].reason).toContain('the server does not serve byte ranges');
    // Resumable under its key, like an upload cut off; the URL named without its signature.
    expect(r.body.error.message).toContain('Import the same file again with the key url-');
    expect(JSON.stringify(r.body)).not.toContain('signature=');
  });

  it('reads ranges only of the version it opened: a changed object is refused (412), not mixed in', async () => {
    objects.put('/exports/changing.parquet', { body: profilesParquet(['c-0'], 1) });
    const url = new URL(objects.url('/exports/changing.parquet'));
    const stale = new RangedUrl({ url, etag: '"an-older-version"', totalBytes: 100 });
    await expect(stale.slice(0, 4)).rejects.toThrow(/bytes 0-3: the object changed while it was read/);
    const current = objects.requests.at(-1)!;
    expect(current).toMatchObject({ status: 412, range: 'bytes=0-3' });
  });
});
