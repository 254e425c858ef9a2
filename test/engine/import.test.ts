import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nestedParquet } from '../fixtures/parquet.ts';
import { parquetWriteFile } from 'hyparquet-writer';
import { csvField } from '../../src/profile/index.ts';
import { BACKENDS } from '../store/backends.ts';
import {
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  setup,
  xAudienceIdOf,
  xIdentifiers,
  type Harness,
} from './harness.ts';

const profile = (i: number, status = 'realized') => ({
  segmentMembership: { ups: { seg: { status } } },
  identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
});
type Cell = string | string[] | boolean | null;

/**
 * Writes `rows` under `columns` as a Parquet file (row groups of `rowGroupSize`), and the same rows as the CSV they
 * read as. An array column is a Parquet LIST of strings; a boolean column a BOOLEAN; any other a string.
 */
function writeParquetAndCsv(
  base: string,
  columns: string[],
  rows: Cell[][],
  rowGroupSize = 7,
): { parquet: string; csv: string } {
  const kind = (index: number) => {
    const sample = rows.map((row) => row[index]).find((cell) => cell !== null);
    return Array.isArray(sample) ? 'list' : typeof sample === 'boolean' ? 'boolean' : 'string';
  };
  const schema: object[] = [{ name: 'root', num_children: columns.length }];
  columns.forEach((name, index) => {
    const type = kind(index);
    if (type === 'list') {
      schema.push(
        { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      );
    } else if (type === 'boolean') schema.push({ name, type: 'BOOLEAN', repetition_type: 'OPTIONAL' });
    else schema.push({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
  });
  const parquet = `${base}.parquet`;
  parquetWriteFile({
    filename: parquet,
    columnData: columns.map((name, index) => ({ name, data: rows.map((row) => row[index]) })),
    schema,
    rowGroupSize,
  } as unknown as Parameters<typeof parquetWriteFile>[0]);
  const cell = (value: Cell) =>
    csvField(Array.isArray(value) ? value.join('|') : value === null ? '' : String(value));
  const csv = `${base}.csv`;
  writeFileSync(csv, [columns, ...rows].map((row) => `${row.map(cell).join(',')}\n`).join(''));
  return { parquet, csv };
}

const emails = (ids: number[]) => new Set(ids.map((i) => `email:${emailHash(`u${i}@x.com`)}`));

for (const backend of BACKENDS) {
  describe(`file import (${backend.name})`, () => {
    let h: Harness | undefined;

    async function prepare() {
      h = await setup(backend);
      const { flow, audience } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'Imported',
      });
      return { flow, audience, dir: h.testStore.dataDir };
    }

    it('imports NDJSON in batches with a report of rejected lines and exclusions', async () => {
      const { audience, dir } = await prepare();
      const lines = [
        ...Array.from({ length: 25 }, (_, i) => JSON.stringify(profile(i))),
        '{not json',
        JSON.stringify({ segmentMembership: 'nope' }),
        '',
        JSON.stringify({
          segmentMembership: { ups: { seg: { status: 'realized' } } },
          identityMap: { ECID: [{ id: 'bad' }], Email: [{ id: 'no-at-sign' }] },
        }),
        JSON.stringify(profile(3, 'exited')),
      ];
      const file = join(dir, 'profiles.ndjson');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const progress: number[] = [];
      const report = await h!.engine.importFile(file, {
        sandboxId: 'prod',
        batchSize: 10,
        onProgress: (p) => progress.push(p.rowsRead),
      });
      expect(report).toMatchObject({
        format: 'ndjson',
        mode: 'incremental',
        rowsRead: 29,
        accepted: 27,
        rejectedCount: 2,
      });
      expect(report.rejected.map((r) => r.line)).toEqual([26, 27]);
      expect(report.rejected[1]!.errors[0]!.path).toMatch(/segmentMembership/);
      // Its only email is rejected: counted once, by its code, not again as a profile with nothing to send.
      expect(report.excluded).toEqual({ email_missing_at: 1 });
      expect(progress.length).toBeGreaterThanOrEqual(3);
      await h!.engine.flush();
      const expected = Array.from({ length: 25 }, (_, i) => i).filter((i) => i !== 3);
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails(expected),
      );
    });

    it('imports a JSON array', async () => {
      const { audience, dir } = await prepare();
      const file = join(dir, 'profiles.json');
      writeFileSync(file, JSON.stringify([profile(1), profile(2), 7, profile(3)], null, 2));
      const report = await h!.engine.importFile(file, { sandboxId: 'prod' });
      expect(report).toMatchObject({ format: 'json', rowsRead: 4, accepted: 3, rejectedCount: 1 });
      expect(report.rejected[0]!.line).toBe(3);
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3]),
      );
    });

    it('rejects the rows of a Latin-1 file whose identifiers are not UTF-8, by line, and imports the rest', async () => {
      const { audience, dir } = await prepare();
      // "josé@x.com" written as Latin-1: é is the single byte 0xE9, which UTF-8 cannot read.
      const latin1 = (text: string) => Buffer.from(text, 'latin1');
      const accented = JSON.stringify({
        segmentMembership: { ups: { seg: { status: 'realized' } } },
        identityMap: { ECID: [{ id: 'e-jose' }], Email: [{ id: 'josé@x.com' }] },
      });
      const ndjson = join(dir, 'latin1.ndjson');
      writeFileSync(
        ndjson,
        latin1([JSON.stringify(profile(1)), accented, JSON.stringify(profile(2))].join('\n')),
      );
      const json = join(dir, 'latin1.json');
      writeFileSync(json, latin1(`[${JSON.stringify(profile(3))},${accented}]`));
      const csv = join(dir, 'latin1.csv');
      writeFileSync(csv, latin1('profile_key,email,segment:seg\nk4,u4@x.com,1\nk5,josé@x.com,1\n'));
      for (const [file, line, path] of [
        [ndjson, 2, '$.identityMap.Email[0].id'],
        [json, 2, '$.identityMap.Email[0].id'],
        [csv, 3, 'column "email"'],
      ] as const) {
        const report = await h!.engine.importFile(file, { sandboxId: 'prod' });
        expect(report.rejected).toEqual([
          {
            line,
            errors: [
              {
                path: expect.stringContaining(path),
                reason: expect.stringMatching(/U\+FFFD.*save the file as UTF-8/),
              },
            ],
          },
        ]);
        expect(report.rejectedCount).toBe(1);
      }
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3, 4]),
      );
    });

    it('mirrors a CSV file: members absent from it are removed', async () => {
      const { audience, dir } = await prepare();
      const first = join(dir, 'first.csv');
      writeFileSync(
        first,
        'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,u2@x.com,1\nk3,u3@x.com,1\nk9,,1\n',
      );
      const r1 = await h!.engine.importFile(first, { sandboxId: 'prod' });
      expect(r1).toMatchObject({ format: 'csv', rowsRead: 4, accepted: 4 });
      await h!.engine.flush();
      const xId = (await xAudienceIdOf(h!.store, audience.id))!;
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1, 2, 3]));

      const second = join(dir, 'second.csv');
      writeFileSync(second, 'profile_key,email\nk2,u2@x.com\nk3,u3@x.com\nk4,u4@x.com\nk5,u5@x.com,extra\n');
      const r2 = await h!.engine.importFile(second, { sandboxId: 'prod', mode: 'mirror', segmentId: 'seg' });
      // One row in four rejected: it may be a member, so nobody is removed (its rows are still written).
      expect(r2).toMatchObject({ mode: 'mirror', removed: 0, rejectedCount: 1, truncated: false });
      expect(r2.removalSkipped).toBe(
        '1 of 4 rows were rejected (more than 5%): a rejected row may be a member, so nobody was removed. Fix the rows and import the file again, or allow more rejected rows for this import (maxRejectedPercent in the API, --max-rejected in tca import)',
      );
      expect(r2.rejected[0]!.line).toBe(5);
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1, 2, 3, 4]));
      // Allowing a quarter of the rows rejected for this import: k1 and k9 (a member without identifiers) are absent.
      const r3 = await h!.engine.importFile(second, {
        sandboxId: 'prod',
        mode: 'mirror',
        segmentId: 'seg',
        maxRejectedShare: 0.25,
      });
      expect(r3).toMatchObject({ removed: 2, rejectedCount: 1, removalSkipped: null });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([2, 3, 4]));
    });

    it('warns of segment columns no dataflow activates, naming them, and imports their rows all the same', async () => {
      const { audience, dir } = await prepare();
      const file = join(dir, 'unactivated.csv');
      // Segment ids are matched exactly: Seg is not the activated seg (column names alone are read without case).
      writeFileSync(
        file,
        'profile_key,email,segment:Seg,segment:aam/legacy\nk1,u1@x.com,1,1\nk2,u2@x.com,,0\n',
      );
      const report = await h!.engine.importFile(file, { sandboxId: 'prod', key: 'unactivated' });
      expect(report).toMatchObject({ format: 'csv', rowsRead: 2, accepted: 2, rejectedCount: 0 });
      expect(report.warnings).toEqual([
        {
          code: 'segment_not_activated',
          segmentIds: ['Seg', 'legacy'],
          columns: ['segment:Seg', 'segment:aam/legacy'],
          message:
            'No dataflow of this sandbox activates segments Seg, legacy (columns "segment:Seg", "segment:aam/legacy"): ' +
            'the rows were imported, but the memberships those columns hold reach no audience. "Seg" is not "seg", ' +
            'which is activated (ids match exactly). Activate them (tca dataflows update <dataflow> --add-segment Seg ' +
            'legacy, or PATCH /api/v1/dataflows/:id), or name the segment ids the dataflows activate in the header, ' +
            'then import the file again',
        },
      ]);
      // Kept with the report: the same import asked for again answers it with its warnings.
      const replayed = await h!.engine.importFile(file, { sandboxId: 'prod', key: 'unactivated' });
      expect(replayed).toMatchObject({ replayed: true, warnings: report.warnings });

      // A Parquet file is read as the same columns.
      const { parquet } = writeParquetAndCsv(
        join(dir, 'columns'),
        ['profile_key', 'email', 'segment:seg', 'segment:nobody'],
        [['k3', 'u3@x.com', '1', '1']],
      );
      const fromParquet = await h!.engine.importFile(parquet, { sandboxId: 'prod' });
      expect(fromParquet).toMatchObject({ format: 'parquet', accepted: 1 });
      expect(fromParquet.warnings).toMatchObject([{ segmentIds: ['nobody'], columns: ['segment:nobody'] }]);
      // Every segment column activated, or no segment columns (NDJSON): nothing to say.
      const activated = join(dir, 'activated.csv');
      writeFileSync(activated, 'profile_key,email,segment:seg\nk4,u4@x.com,1\n');
      expect((await h!.engine.importFile(activated, { sandboxId: 'prod' })).warnings).toEqual([]);
      const ndjson = join(dir, 'members.ndjson');
      writeFileSync(ndjson, `${JSON.stringify(profile(5))}\n`);
      expect((await h!.engine.importFile(ndjson, { sandboxId: 'prod' })).warnings).toEqual([]);
      // The activated segment's members arrive as before; the others' memberships reach no audience.
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([3, 4, 5]),
      );
    });

    it('warns of columns that look misspelt and that nothing reads, and imports their rows all the same', async () => {
      const { audience, dir } = await prepare();
      const file = join(dir, 'slips.csv');
      // `emial` and `Phone Number` would reach no audience; `loyalty_tier` and a consent column are attributes.
      writeFileSync(
        file,
        'profile_key,idfa,emial,Phone Number,segment_seg,loyalty_tier,consents.marketing.email.val\n' +
          'k1,,u1@x.com,+12125550100,1,gold,y\n',
      );
      const report = await h!.engine.importFile(file, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 1, accepted: 1, rejectedCount: 0 });
      expect(report.warnings).toEqual([
        {
          code: 'column_not_read',
          segmentIds: [],
          columns: ['emial', 'Phone Number', 'segment_seg'],
          message: expect.stringContaining(
            'Columns "emial" (did you mean "email"?), "Phone Number" (did you mean "phone" (or "phone_e164", ' +
              '"phone_sha256")?), "segment_seg" (did you mean "segment:seg"?) are read as attributes that no mapping ' +
              'reads: the rows were imported, but their values reach no audience. Rename them in the header',
          ),
        },
      ]);
      // A column a mapping reads as an attribute is no slip.
      const flow = await h!.store.dataflows.create({
        sandboxId: 'prod',
        destinationId: h!.destination.id,
        name: 'attribute flow',
        mapping: [{ sourceType: 'attribute', source: 'emial', target: 'email', applyTransformation: true }],
      });
      const read = await h!.store.audiences.create({
        sandboxId: 'prod',
        dataflowId: flow.id,
        segmentId: 'seg',
        mappingName: 'From attribute',
        startDate: 0,
      });
      const again = await h!.engine.importFile(file, { sandboxId: 'prod', key: 'read-now' });
      expect(again.warnings).toMatchObject([{ columns: ['Phone Number', 'segment_seg'] }]);
      await h!.engine.flush();
      // The row states no membership of seg (its segment column is misspelt): neither audience gets a member.
      expect(await xAudienceIdOf(h!.store, audience.id)).toBeNull();
      expect(await xAudienceIdOf(h!.store, read.id)).toBeNull();
    });

    it('removes nobody when a mirror file leaves out nearly all of the segment, unless told it may', async () => {
      const { audience, dir } = await prepare();
      const all = join(dir, 'all.csv');
      const rows = Array.from({ length: 20 }, (_, i) => `k${i},u${i}@x.com,1`);
      writeFileSync(all, `profile_key,email,segment:seg\n${rows.join('\n')}\n`);
      await h!.engine.importFile(all, { sandboxId: 'prod' });
      await h!.engine.flush();
      const xId = (await xAudienceIdOf(h!.store, audience.id))!;
      const everyone = emails(Array.from({ length: 20 }, (_, i) => i));
      expect(xIdentifiers(h!.emulator, xId)).toEqual(everyone);

      // A query that went wrong: one member of twenty (and one new person), so 19 of 21 known members are absent.
      const few = join(dir, 'few.csv');
      writeFileSync(few, 'profile_key,email\nk0,u0@x.com\nk20,u20@x.com\n');
      const cut = await h!.engine.importFile(few, { sandboxId: 'prod', mode: 'mirror', segmentId: 'seg' });
      expect(cut).toMatchObject({ accepted: 2, removed: 0 });
      expect(cut.removalSkipped).toBe(
        "19 of the segment's 21 known members are absent from the file (more than 90%): an export cut short or a query that went wrong would empty the audience, so nobody was removed. If the segment really shrank that much, import the file again allowing it (maxRemovedPercent in the API, --max-removed in tca import)",
      );
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(new Set([...everyone, ...emails([20])]));

      // Told the segment did shrink: the absent leave.
      const shrunk = await h!.engine.importFile(few, {
        sandboxId: 'prod',
        mode: 'mirror',
        segmentId: 'seg',
        maxRemovedShare: 1,
      });
      expect(shrunk).toMatchObject({ removed: 19, removalSkipped: null });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([0, 20]));
    });

    it('reads a CSV file whose line breaks change midway (CRLF, then LF) row by row, numbering lines right', async () => {
      const { audience, dir } = await prepare();
      const file = join(dir, 'mixed.csv');
      // As parts of one export joined together: the first written on Windows, the second elsewhere.
      writeFileSync(
        file,
        'profile_key,email,segment:seg\r\nk1,u1@x.com,1\r\nk2,u2@x.com,1\r\n' +
          'k3,u3@x.com,1\nk4,not-an-email,1\nk5,u5@x.com,1\n',
      );
      const report = await h!.engine.importFile(file, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 5, accepted: 5 });
      // The row's only email is rejected: counted once, by its code.
      expect(report.excluded).toEqual({ email_missing_at: 1 });
      await h!.engine.flush();
      const xId = (await xAudienceIdOf(h!.store, audience.id))!;
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1, 2, 3, 5]));
      // LF first, then CRLF: no carriage return is left in a value, and a rejected row is named by its own line.
      const other = join(dir, 'other.csv');
      writeFileSync(
        other,
        'profile_key,email,segment:seg\nk6,u6@x.com,1\r\n,u7@x.com,1\r\nk8,u8@x.com,1\r\n',
      );
      const second = await h!.engine.importFile(other, { sandboxId: 'prod' });
      expect(second).toMatchObject({ rowsRead: 3, accepted: 2, rejectedCount: 1 });
      expect(second.rejected[0]!.line).toBe(3);
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1, 2, 3, 5, 6, 8]));
      // A quoted value across lines (CRLF inside it): a row is named by the line it starts on, and the rows after it
      // by their own lines.
      const quoted = join(dir, 'quoted.csv');
      writeFileSync(
        quoted,
        'profile_key,email,segment:seg\r\nk9,u9@x.com,1\r\n,"first\r\nsecond",1\r\n' +
          'k10,u10@x.com,1\r\n,u11@x.com,1\r\n,"a\nb\r\nc",1\n,u12@x.com,1\n',
      );
      const third = await h!.engine.importFile(quoted, { sandboxId: 'prod' });
      expect(third).toMatchObject({ rowsRead: 6, accepted: 2, rejectedCount: 4 });
      expect(third.rejected.map((r) => r.line)).toEqual([3, 6, 7, 10]);
    });

    it('stops at a CSV syntax error and then removes nothing in mirror mode', async () => {
      const { dir } = await prepare();
      await h!.engine.importFile(join(dir, 'a.csv'), { sandboxId: 'prod' }).catch(() => undefined);
      const seed = join(dir, 'seed.csv');
      writeFileSync(seed, 'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,u2@x.com,1\n');
      await h!.engine.importFile(seed, { sandboxId: 'prod' });
      const broken = join(dir, 'broken.csv');
      writeFileSync(broken, 'profile_key,email\nk2,u2@x.com\n"k3,u3@x.com\nk4,u4@x.com\n');
      const report = await h!.engine.importFile(broken, {
        sandboxId: 'prod',
        mode: 'mirror',
        segmentId: 'seg',
      });
      expect(report).toMatchObject({ truncated: true, removed: 0, accepted: 1, rejectedCount: 1 });
    });

    it('imports every CSV row before a syntax error, which it names by its line', async () => {
      const { audience, dir } = await prepare();
      // A quote not closed after 3 rows, and after 5,000 (the parser reads all of them in the read that meets it).
      for (const good of [3, 5000]) {
        const rows = ['profile_key,email,segment:seg'];
        for (let i = 0; i < good; i += 1) rows.push(`k${i},u${i}@x.com,1`);
        rows.push('bqX,"bad@example.com,1');
        for (let i = 6000; i < 6010; i += 1) rows.push(`k${i},u${i}@x.com,1`);
        const file = join(dir, `bad-quote-${good}.csv`);
        writeFileSync(file, `${rows.join('\n')}\n`);
        const report = await h!.engine.importFile(file, { sandboxId: 'prod', batchSize: 1000 });
        expect(report).toMatchObject({
          rowsRead: good + 1,
          accepted: good,
          rejectedCount: 1,
          truncated: true,
        });
        expect(report.rejected).toEqual([
          {
            line: good + 2,
            errors: [{ path: `line ${good + 2}`, reason: expect.stringContaining('Quote Not Closed') }],
          },
        ]);
      }
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails(Array.from({ length: 5000 }, (_, i) => i)),
      );
    });

    it('reads a stray quote in a CSV value as part of it, so its row alone is affected and no cell is reported', async () => {
      const { audience, dir } = await prepare();
      // A quote inside an unquoted value, or after a quoted one, is that row's problem, not the end of the file; the
      // report (stored with the import) never holds the value the parser met.
      const stray = join(dir, 'stray-quote.csv');
      writeFileSync(
        stray,
        'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,secret"person@x.com,1\nk3,"secret.person@x.com"Z,1,2\nk4,u4@x.com,1\n',
      );
      const report = await h!.engine.importFile(stray, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 4, rejectedCount: 1, truncated: false });
      expect(report.rejected.map((r) => r.line)).toEqual([4]);
      expect(JSON.stringify(report)).not.toMatch(/secret/);
      await h!.engine.flush();
      const members = xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!);
      for (const member of emails([1, 4])) expect(members).toContain(member);
    });

    it('refuses a CSV row or JSON array element too long to be a profile as a problem of the file, not a crash', async () => {
      const { dir } = await prepare();
      // Past MAX_IMPORT_ITEM_BYTES (64 MiB), a value would grow toward what a string holds and fail the import.
      const blob = 'y'.repeat(64 * 1024 * 1024 + 1);
      const csv = join(dir, 'long-row.csv');
      writeFileSync(csv, `profile_key,email,note,segment:seg\nk1,u1@x.com,,1\nk2,u2@x.com,"${blob}",1\n`);
      const report = await h!.engine.importFile(csv, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 2, accepted: 1, rejectedCount: 1, truncated: true });
      expect(report.rejected[0]!.errors[0]!.reason).toContain('Max Record Size');
      const json = join(dir, 'long-item.json');
      writeFileSync(json, `[${JSON.stringify(profile(1))},{"attributes":{"blob":"${blob}"}}]`);
      await expect(h!.engine.importFile(json, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('longer than'),
      });
    });

    it('names an unclosed CSV quote by the line its row starts on, not where the file ends', async () => {
      const { dir } = await prepare();
      // An unclosed quote: the parser finds it at the end of the file, but the row starts on line 5 (a quoted value
      // across a CRLF comes before it).
      const unclosed = join(dir, 'unclosed.csv');
      writeFileSync(
        unclosed,
        'profile_key,email,segment:seg\r\nk1,u1@x.com,1\r\nk2,"u2@x.com\r\n",1\r\nk4,"u4@x.com\r\nk5,u5@x.com,1\r\nk6,u6@x.com,1\r\n',
      );
      const report = await h!.engine.importFile(unclosed, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 3, accepted: 2, rejectedCount: 1, truncated: true });
      expect(report.rejected).toEqual([
        {
          line: 5,
          errors: [
            {
              path: 'line 5',
              reason: 'Quote Not Closed: a quoted value of this row is not closed before the end of the file',
            },
          ],
        },
      ]);
    });

    it('refuses an empty CSV file, and a mirror file without rows, removing nobody', async () => {
      const { audience, dir } = await prepare();
      const seed = join(dir, 'seed.csv');
      writeFileSync(seed, 'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,u2@x.com,1\nk3,u3@x.com,1\n');
      await h!.engine.importFile(seed, { sandboxId: 'prod' });
      const mirror = { sandboxId: 'prod', mode: 'mirror' as const, segmentId: 'seg' };
      const empty = join(dir, 'empty.csv');
      writeFileSync(empty, '');
      for (const mode of ['incremental', 'mirror'] as const)
        await expect(h!.engine.importFile(empty, { ...mirror, mode })).rejects.toMatchObject({
          code: 'invalid_file',
          message: expect.stringContaining(`${empty} is empty: a CSV file starts with its header row`),
          details: [{ path: empty, reason: 'no header row' }],
        });
      // No rows: a CSV header alone, an NDJSON file of blank lines, an empty JSON array, an empty stream.
      const noRows = (name: string) => ({
        code: 'invalid_file',
        message: expect.stringContaining(
          `${name} has no rows: in mirror mode it would remove every member of segment seg, so nobody was removed`,
        ),
        details: [{ path: name, reason: expect.stringContaining('no rows') }],
      });
      for (const [name, text] of [
        ['header.csv', 'profile_key,email,segment:seg\n'],
        ['blank.ndjson', '\n\n'],
        ['empty.json', '[]'],
      ] as const) {
        const file = join(dir, name);
        writeFileSync(file, text);
        await expect(h!.engine.importFile(file, mirror)).rejects.toMatchObject(noRows(file));
      }
      const nothing = (async function* () {})();
      await expect(h!.engine.importStream(nothing, { ...mirror, format: 'ndjson' })).rejects.toMatchObject(
        noRows('the upload'),
      );
      await h!.engine.flush();
      const xId = (await xAudienceIdOf(h!.store, audience.id))!;
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1, 2, 3]));

      // Refused under a key, the export sent again once whole is imported under it, and the absent removed.
      const header = join(dir, 'header.csv');
      await expect(h!.engine.importFile(header, { ...mirror, key: 'members-1' })).rejects.toMatchObject(
        noRows(header),
      );
      const whole = join(dir, 'whole.csv');
      writeFileSync(whole, 'profile_key,email,segment:seg\nk1,u1@x.com,1\n');
      expect(await h!.engine.importFile(whole, { ...mirror, key: 'members-1' })).toMatchObject({
        key: 'members-1',
        attempts: 2,
        rowsRead: 1,
        accepted: 1,
        removed: 2,
      });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails([1]));
    });

    it('imports on worker threads exactly as on the main thread, in file order', async () => {
      const { audience, dir } = await prepare();
      // 300 profiles, then half of them exit, with bad lines among them: batches of 17 keep several in flight.
      const lines: string[] = [];
      for (let i = 0; i < 300; i += 1) lines.push(JSON.stringify(profile(i)));
      lines.push('{not json', JSON.stringify({ identityMap: 5 }));
      for (let i = 0; i < 300; i += 2) lines.push(JSON.stringify(profile(i, 'exited')));
      lines.push(
        JSON.stringify({
          segmentMembership: { ups: { seg: { status: 'realized' } } },
          identityMap: { ECID: [{ id: 'bad' }], Email: [{ id: 'no-at-sign' }] },
        }),
      );
      const file = join(dir, 'threaded.ndjson');
      writeFileSync(file, `${lines.join('\n')}\n`);

      const threaded = await h!.engine.importFile(file, { sandboxId: 'prod', batchSize: 17, threads: 2 });
      const inline = await h!.engine.importFile(file, { sandboxId: 'prod', batchSize: 17, threads: 0 });
      expect(threaded).toMatchObject({ rowsRead: 453, accepted: 451, rejectedCount: 2 });
      expect(threaded.rejected.map((r) => r.line)).toEqual([301, 302]);
      expect(threaded.excluded).toEqual({ email_missing_at: 1 });
      // The same file on the main thread reports the same, and leads to the same state.
      expect({ ...inline, key: threaded.key }).toEqual(threaded);

      await h!.engine.flush();
      const odd = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 2 === 1);
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(emails(odd));

      // Mirror mode on threads: a JSON array holding only the first ten odd members leaves only them (more than 90% of
      // the segment leaves, which this import allows).
      const mirror = join(dir, 'mirror.json');
      writeFileSync(mirror, JSON.stringify(odd.slice(0, 10).map((i) => profile(i))));
      const mirrored = await h!.engine.importFile(mirror, {
        sandboxId: 'prod',
        mode: 'mirror',
        segmentId: 'seg',
        threads: 1,
        maxRemovedShare: 1,
      });
      // Removed: the other 140 odd members, and the member whose only email was rejected.
      expect(mirrored).toMatchObject({ format: 'json', rowsRead: 10, accepted: 10, removed: 141 });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails(odd.slice(0, 10)),
      );
    });

    it('imports CSV on worker threads exactly as on the main thread, syntax errors included', async () => {
      const { audience, dir } = await prepare();
      const rows = ['profile_key,email,segment:seg'];
      for (let i = 0; i < 120; i += 1) rows.push(`k${i},u${i}@x.com,1`);
      rows.push('k500,u500@x.com,1,extra', 'k501,not-an-email,1');
      for (let i = 0; i < 120; i += 3) rows.push(`k${i},u${i}@x.com,exited`);
      const file = join(dir, 'threaded.csv');
      writeFileSync(file, `${rows.join('\n')}\n`);
      const threaded = await h!.engine.importFile(file, { sandboxId: 'prod', batchSize: 13, threads: 2 });
      const inline = await h!.engine.importFile(file, { sandboxId: 'prod', batchSize: 13, threads: 0 });
      expect(threaded).toMatchObject({ format: 'csv', rowsRead: 162, accepted: 161, rejectedCount: 1 });
      expect(threaded.rejected.map((r) => r.line)).toEqual([122]);
      expect({ ...inline, key: threaded.key }).toEqual(threaded);
      await h!.engine.flush();
      const kept = Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 3 !== 0);
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(emails(kept));

      // An unclosed quote ends the file: both paths stop there, report the line and mark the import truncated.
      const broken = join(dir, 'broken.csv');
      writeFileSync(broken, 'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,"u2@x.com,1\nk3,u3@x.com,1\n');
      const brokenThreaded = await h!.engine.importFile(broken, { sandboxId: 'prod', threads: 1 });
      const brokenInline = await h!.engine.importFile(broken, { sandboxId: 'prod', threads: 0 });
      expect(brokenThreaded).toMatchObject({ truncated: true, accepted: 1, rejectedCount: 1 });
      expect({ ...brokenInline, key: brokenThreaded.key }).toEqual(brokenThreaded);
    });

    it('imports a stream like a file, multibyte characters cut between reads included', async () => {
      const { audience } = await prepare();
      const named = (i: number) => ({
        ...profile(i),
        identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `zoë${i}@x.com` }] },
      });
      const bytes = Buffer.from(JSON.stringify([named(1), named(2), named(3)]));
      // Three-byte reads: every "ë" (two bytes) is cut at some point of the array.
      async function* reads() {
        for (let at = 0; at < bytes.length; at += 3) yield bytes.subarray(at, at + 3);
      }
      const report = await h!.engine.importStream(reads(), { sandboxId: 'prod', format: 'json' });
      expect(report).toMatchObject({ format: 'json', rowsRead: 3, accepted: 3, rejectedCount: 0 });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        new Set([1, 2, 3].map((i) => `email:${emailHash(`zoë${i}@x.com`)}`)),
      );
    });

    it('a stream that fails before its end throws source_failed, and mirror mode then removes nothing', async () => {
      const { audience } = await prepare();
      const lines = (ids: number[]) => ids.map((i) => `${JSON.stringify(profile(i))}\n`).join('');
      await h!.engine.importStream(
        (async function* () {
          yield Buffer.from(lines([1, 2, 3, 4]));
        })(),
        { sandboxId: 'prod', format: 'ndjson' },
      );
      // A mirror of profile 1 alone, cut off after its first batch: profiles 2–4 must stay members.
      const failing = (async function* () {
        yield Buffer.from(lines([1, 5]));
        throw new Error('connection reset');
      })();
      await expect(
        h!.engine.importStream(failing, {
          sandboxId: 'prod',
          format: 'ndjson',
          mode: 'mirror',
          segmentId: 'seg',
          batchSize: 2,
          threads: 0,
          name: 'the upload',
        }),
      ).rejects.toMatchObject({
        code: 'source_failed',
        details: [
          { path: 'the upload', reason: 'connection reset' },
          { path: 'key', reason: expect.stringMatching(/^resume with the import key imp_/) },
        ],
      });
      await h!.engine.flush();
      // Nobody left; profile 5, in the batch written before the failure, joined.
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3, 4, 5]),
      );
      // The keys it saw stay while it may be resumed.
      // Both imports of this test started in the same millisecond: pick the mirror one by its mode.
      const stopped = (await h!.engine.imports('prod')).find((i) => i.mode === 'mirror');
      expect(stopped).toMatchObject({ status: 'interrupted', mode: 'mirror', rowsCommitted: 2 });
      expect(await h!.store.db.selectFrom('engine_import_seen').select('profile_key').execute()).toHaveLength(
        2,
      );
    });

    it('resumes an interrupted import: skips the committed rows, imports the rest, reports as one run', async () => {
      const { audience } = await prepare();
      // 100 lines: a bad one among the rows the first attempt commits (5), another among the rest (70).
      const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify(profile(i)));
      lines[4] = '{not json';
      lines[69] = JSON.stringify({ segmentMembership: 'nope' });
      // Reads of 7 lines at a time: batches of 10 end mid-read.
      const reads = (upTo: number, fail: boolean) =>
        (async function* () {
          for (let at = 0; at < upTo; at += 7)
            yield Buffer.from(
              lines
                .slice(at, Math.min(at + 7, upTo))
                .map((l) => `${l}\n`)
                .join(''),
            );
          if (fail) throw new Error('connection reset');
        })();
      const options = {
        sandboxId: 'prod',
        format: 'ndjson' as const,
        batchSize: 10,
        threads: 0,
        key: 'upload-1',
      };

      await expect(h!.engine.importStream(reads(45, true), options)).rejects.toMatchObject({
        code: 'source_failed',
        message: expect.stringContaining('40 rows of it are imported'),
      });
      expect(await h!.engine.importStatus('prod', 'upload-1')).toMatchObject({
        status: 'interrupted',
        attempts: 1,
        rowsCommitted: 40,
        error: expect.stringContaining('connection reset'),
        report: { rowsRead: 40, accepted: 39, rejectedCount: 1 },
      });

      // Another file under the same key is refused before anything is written.
      const other = [...lines];
      other[20] = JSON.stringify(profile(500));
      await expect(
        h!.engine.importStream(
          (async function* () {
            yield Buffer.from(`${other.join('\n')}\n`);
          })(),
          options,
        ),
      ).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('first 40 rows differ') });
      // Other options under the same key are refused too.
      await expect(
        h!.engine.importStream(reads(100, false), { ...options, format: 'json' }),
      ).rejects.toMatchObject({
        code: 'conflict',
        details: [{ path: 'format', reason: 'was ndjson, now json' }],
      });

      const resumed = await h!.engine.importStream(reads(100, false), options);
      expect(resumed).toMatchObject({
        key: 'upload-1',
        attempts: 3,
        replayed: false,
        rowsRead: 100,
        accepted: 98,
        rejectedCount: 2,
      });
      expect(resumed.rejected.map((r) => r.line)).toEqual([5, 70]);
      // This call added the rows after the first 40 (one of them rejected).
      expect(resumed.thisCall).toEqual({ accepted: 59, excluded: {} });
      // The same file in one run reports the same.
      const once = await h!.engine.importStream(reads(100, false), { ...options, key: 'upload-2' });
      expect({ ...once, key: 'upload-1', attempts: 3, thisCall: resumed.thisCall }).toEqual(resumed);

      // Sent again once complete: the report comes back and nothing is read.
      const unread: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]() {
          throw new Error('must not be read');
        },
      };
      expect(await h!.engine.importStream(unread, options)).toEqual({
        ...resumed,
        replayed: true,
        thisCall: { accepted: 0, excluded: {} },
      });
      expect(await h!.engine.importStatus('prod', 'upload-1')).toMatchObject({
        status: 'complete',
        rowsCommitted: 100,
        error: null,
        finishedAt: h!.clock.now(),
      });

      await h!.engine.flush();
      const members = Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 4 && i !== 69);
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails(members),
      );
    });

    it('resumes a mirror import, CSV: removes the members absent from the whole file once it completes', async () => {
      const { audience, dir } = await prepare();
      const file = join(dir, 'all.csv');
      writeFileSync(
        file,
        `profile_key,email,segment:seg\n${[1, 2, 3, 4, 5].map((i) => `k${i},u${i}@x.com,1\n`).join('')}`,
      );
      await h!.engine.importFile(file, { sandboxId: 'prod', threads: 0 });
      const mirror = `profile_key,email\n${[1, 2, 3].map((i) => `k${i},u${i}@x.com\n`).join('')}`;
      const options = {
        sandboxId: 'prod',
        format: 'csv' as const,
        mode: 'mirror' as const,
        segmentId: 'seg',
        batchSize: 2,
        threads: 0,
        key: 'mirror-1',
      };
      // Cut off once the first batch (two rows) is written; the parser gives a record once it sees what follows it.
      let batchWritten!: () => void;
      const written = new Promise<void>((resolve) => (batchWritten = resolve));
      await expect(
        h!.engine.importStream(
          (async function* () {
            yield Buffer.from(mirror.slice(0, mirror.indexOf('k3') + 2));
            await written;
            throw new Error('connection reset');
          })(),
          { ...options, onProgress: () => batchWritten() },
        ),
      ).rejects.toMatchObject({ code: 'source_failed' });
      expect(await h!.engine.importStatus('prod', 'mirror-1')).toMatchObject({ rowsCommitted: 2 });
      await h!.engine.flush();
      // Nothing removed yet: the file was not read to its end.
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3, 4, 5]),
      );

      const report = await h!.engine.importStream(
        (async function* () {
          yield Buffer.from(mirror);
        })(),
        options,
      );
      expect(report).toMatchObject({ attempts: 2, rowsRead: 3, accepted: 3, removed: 2 });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3]),
      );
      expect(await h!.store.db.selectFrom('engine_import_seen').select('profile_key').execute()).toEqual([]);
    });

    it('writes the batches read in full before an upload is cut off, also those still queued on threads', async () => {
      await prepare();
      const cut = (async function* () {
        yield Buffer.from(Array.from({ length: 95 }, (_, i) => `${JSON.stringify(profile(i))}\n`).join(''));
        throw new Error('connection reset');
      })();
      await expect(
        h!.engine.importStream(cut, {
          sandboxId: 'prod',
          format: 'ndjson',
          batchSize: 10,
          threads: 2,
          key: 'cut',
        }),
      ).rejects.toMatchObject({ code: 'source_failed', message: expect.stringContaining('90 rows of it') });
      expect(await h!.engine.importStatus('prod', 'cut')).toMatchObject({
        status: 'interrupted',
        rowsCommitted: 90,
        report: { rowsRead: 90, accepted: 90 },
      });
    });

    it('imports gzip files and uploads as their content, resumes them, and refuses broken gzip', async () => {
      const { audience, dir } = await prepare();
      const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify(profile(i)));
      lines[7] = '{not json';
      const text = `${lines.join('\n')}\n`;
      const plainFile = join(dir, 'plain.ndjson');
      writeFileSync(plainFile, text);
      const gzFile = join(dir, 'profiles.ndjson.gz');
      // Two gzip members one after the other, as `cat a.gz b.gz` makes.
      const cut = text.indexOf('\n', text.length / 2) + 1;
      writeFileSync(gzFile, Buffer.concat([gzipSync(text.slice(0, cut)), gzipSync(text.slice(cut))]));
      const plain = await h!.engine.importFile(plainFile, { sandboxId: 'prod', batchSize: 25, threads: 0 });
      const gz = await h!.engine.importFile(gzFile, { sandboxId: 'prod', batchSize: 25, threads: 2 });
      expect({ ...gz, key: plain.key }).toEqual(plain);
      expect(gz).toMatchObject({ format: 'ndjson', rowsRead: 60, accepted: 59, rejectedCount: 1 });

      // An upload of gzip bytes, cut off, then sent whole under its key: resumed after the rows written.
      const csv = `profile_key,email,segment:seg\n${Array.from({ length: 40 }, (_, i) => `k${100 + i},u${100 + i}@x.com,1`).join('\n')}\n`;
      const zipped = gzipSync(csv);
      const options = {
        sandboxId: 'prod',
        format: 'csv' as const,
        batchSize: 10,
        threads: 0,
        key: 'gz-upload',
      };
      const reads = (upTo: number, fail: boolean) =>
        (async function* () {
          // Single bytes: the gzip header itself arrives in pieces.
          for (let at = 0; at < upTo; at += 1) yield zipped.subarray(at, at + 1);
          if (fail) throw new Error('connection reset');
        })();
      await expect(
        h!.engine.importStream(reads(Math.floor(zipped.length * 0.8), true), options),
      ).rejects.toMatchObject({
        code: 'source_failed',
      });
      const stopped = await h!.engine.importStatus('prod', 'gz-upload');
      expect(stopped.status).toBe('interrupted');
      expect(stopped.rowsCommitted).toBeGreaterThanOrEqual(10);
      const resumed = await h!.engine.importStream(reads(zipped.length, false), options);
      expect(resumed).toMatchObject({ attempts: 2, rowsRead: 40, accepted: 40, rejectedCount: 0 });
      expect(resumed.thisCall.accepted).toBe(40 - stopped.rowsCommitted);

      // A gzip file cut short is not silently taken for a shorter file.
      const broken = join(dir, 'broken.csv.gz');
      writeFileSync(broken, zipped.subarray(0, zipped.length - 12));
      await expect(h!.engine.importFile(broken, { sandboxId: 'prod', threads: 0 })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('is not valid gzip data'),
      });

      await h!.engine.flush();
      const members = [
        ...Array.from({ length: 60 }, (_, i) => i).filter((i) => i !== 7),
        ...Array.from({ length: 40 }, (_, i) => 100 + i),
      ];
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails(members),
      );
    });

    it('refuses to resume an import that is still running, and takes over one that went silent', async () => {
      await prepare();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const options = { sandboxId: 'prod', format: 'ndjson' as const, batchSize: 1, threads: 0, key: 'slow' };
      let firstWritten!: () => void;
      const written = new Promise<void>((resolve) => (firstWritten = resolve));
      const first = h!.engine.importStream(
        (async function* () {
          yield Buffer.from(`${JSON.stringify(profile(1))}\n`);
          await gate;
          yield Buffer.from(`${JSON.stringify(profile(2))}\n`);
        })(),
        { ...options, onProgress: () => firstWritten() },
      );
      await written;
      const again = () =>
        h!.engine.importStream(
          (async function* () {
            yield Buffer.from([1, 2].map((i) => `${JSON.stringify(profile(i))}\n`).join(''));
          })(),
          options,
        );
      // Refused until the attempt finishes or goes silent for a minute: retryAt says when, at the latest.
      await expect(again()).rejects.toMatchObject({
        code: 'too_soon',
        message: expect.stringContaining('still running'),
        retryAt: h!.clock.now() + 60_000,
      });
      expect(await h!.engine.importCounts()).toEqual({ running: 1, interrupted: 0, failed: 0, complete: 0 });
      // A minute without a write: the attempt is taken to be dead, and the next one takes over.
      h!.clock.advance(60_000);
      expect(await h!.engine.importStatus('prod', 'slow')).toMatchObject({ status: 'interrupted' });
      expect(await h!.engine.importCounts()).toEqual({ running: 0, interrupted: 1, failed: 0, complete: 0 });
      expect(await again()).toMatchObject({ attempts: 2, rowsRead: 2, accepted: 2 });
      // The first attempt's next batch finds it was taken over, and stops without writing.
      release();
      await expect(first).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('taken over'),
      });
      expect(await h!.engine.importStatus('prod', 'slow')).toMatchObject({ status: 'complete', attempts: 2 });
    });

    it('keys the batches after a change of the profile key namespaces under the new ones', async () => {
      await prepare();
      const line = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`);
      const customer = {
        ...profile(1),
        identityMap: { ...profile(1).identityMap, CustomerID: [{ id: 'cust-1' }] },
      };
      const source = (async function* () {
        // A profile without identifiers is rejected, not stored: the sandbox still holds no profile after it.
        yield line({ segmentMembership: { ups: { seg: { status: 'realized' } } } });
        const keys = await h!.engine.setProfileKeyNamespaces('prod', ['CustomerID']);
        expect(keys).toEqual({
          namespaces: ['CUSTOMERID'],
          isDefault: false,
          fixed: false,
          mergesAcrossNamespaces: false,
          rekey: null,
        });
        yield line(customer);
      })();
      // The second batch, keyed under ECID when it was read, is refused at its write and keyed again.
      expect(
        await h!.engine.importStream(source, {
          sandboxId: 'prod',
          format: 'ndjson',
          batchSize: 1,
          threads: 0,
        }),
      ).toMatchObject({ rowsRead: 2, accepted: 1, rejectedCount: 1 });
      expect(await h!.store.db.selectFrom('engine_profiles').select('profile_key').execute()).toEqual([
        { profile_key: `k:${h!.store.profileKeyHash('CUSTOMERID', 'cust-1')}` },
      ]);
    });

    it('fixes the profile key namespaces once the sandbox holds profiles', async () => {
      await prepare();
      await expect(h!.engine.setProfileKeyNamespaces('prod', ['bad name'])).rejects.toMatchObject({
        code: 'invalid_input',
      });
      const file = join(h!.testStore.dataDir, 'one.ndjson');
      writeFileSync(file, `${JSON.stringify(profile(1))}\n`);
      await h!.engine.importFile(file, { sandboxId: 'prod' });
      expect(await h!.engine.profileKeySettings('prod')).toEqual({
        namespaces: ['ECID', 'CRMID'],
        isDefault: true,
        fixed: true,
        mergesAcrossNamespaces: false,
        rekey: null,
      });
      await expect(h!.engine.setProfileKeyNamespaces('prod', ['CRMID'])).rejects.toMatchObject({
        code: 'conflict',
      });
      expect((await h!.store.sandboxes.get('prod'))?.profileKeyNamespaces).toBeNull();
    });

    it('imports Parquet as the CSV it reads as: lists of identities, nulls, row groups, rejected rows by line', async () => {
      const { audience, dir } = await prepare();
      const rows: Cell[][] = Array.from({ length: 30 }, (_, i) => [`k${i}`, [`u${i}@x.com`], true]);
      rows[4]![1] = ['u4@x.com', 'u40@x.com'];
      rows[10]![0] = ''; // no profile key: rejected, line 12 (the header is line 1)
      rows[15]![2] = false; // exited
      rows[17]![1] = null; // a member with nothing to send
      rows[22]![2] = null; // says nothing of the segment
      const { parquet, csv } = writeParquetAndCsv(
        join(dir, 'members'),
        ['profile_key', 'email', 'segment:seg'],
        rows,
      );
      const threaded = await h!.engine.importFile(parquet, { sandboxId: 'prod', batchSize: 4, threads: 2 });
      expect(threaded).toMatchObject({ format: 'parquet', rowsRead: 30, accepted: 29, rejectedCount: 1 });
      expect(threaded.rejected[0]).toMatchObject({
        line: 12,
        errors: [{ path: 'column "profile_key"' }],
      });
      expect(threaded.excluded.no_mappable_identifier).toBe(1);
      const inline = await h!.engine.importFile(parquet, { sandboxId: 'prod', batchSize: 4, threads: 0 });
      expect({ ...inline, key: threaded.key }).toEqual(threaded);
      const asCsv = await h!.engine.importFile(csv, { sandboxId: 'prod', batchSize: 4 });
      expect({ ...asCsv, key: threaded.key, format: 'parquet' }).toEqual(threaded);
      await h!.engine.flush();
      const members = [
        ...Array.from({ length: 30 }, (_, i) => i).filter((i) => ![10, 15, 17, 22].includes(i)),
      ];
      const expected = emails(members);
      expected.add(`email:${emailHash('u40@x.com')}`);
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(expected);

      // Mirror mode: the file is the whole segment. The 27 members (k17, with no identifier, among them) lose 24.
      const mirror = writeParquetAndCsv(
        join(dir, 'mirror'),
        ['profile_key', 'email'],
        [0, 1, 2].map((i) => [`k${i}`, `u${i}@x.com`]),
        2,
      );
      const report = await h!.engine.importFile(mirror.parquet, {
        sandboxId: 'prod',
        mode: 'mirror',
        segmentId: 'seg',
      });
      expect(report).toMatchObject({ rowsRead: 3, accepted: 3, removed: 24 });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([0, 1, 2]),
      );
    });

    it('refuses Parquet it cannot read as profile rows, saying what and where, and writes nothing', async () => {
      const { dir } = await prepare();
      const nested = join(dir, 'nested.parquet');
      writeFileSync(nested, nestedParquet());
      await expect(h!.engine.importFile(nested, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        details: [{ path: 'column "address"', reason: 'is a nested group (a struct)' }],
      });
      const notParquet = join(dir, 'members.parquet');
      writeFileSync(notParquet, 'profile_key,email\nk1,u1@x.com\n');
      await expect(h!.engine.importFile(notParquet, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('is not a Parquet file'),
      });
      const noKey = writeParquetAndCsv(join(dir, 'no-key'), ['email'], [['u1@x.com']]);
      await expect(h!.engine.importFile(noKey.parquet, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('not a profile layout'),
      });
      // A Parquet file read as CSV is named for what it is.
      const renamed = join(dir, 'members-parquet.csv');
      writeFileSync(renamed, readFileSync(noKey.parquet));
      await expect(h!.engine.importFile(renamed, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('is a Parquet file. Import it with the format parquet'),
      });
      // A stream cannot be Parquet: asked for, or sent as something else.
      const stream = (async function* () {
        yield Buffer.from('PAR1 and the rest');
      })();
      await expect(
        h!.engine.importStream(stream, { sandboxId: 'prod', format: 'parquet' }),
      ).rejects.toMatchObject({
        code: 'invalid_input',
      });
      const disguised = (async function* () {
        yield Buffer.from('PA');
        yield Buffer.from('R1 and the rest');
      })();
      await expect(
        h!.engine.importStream(disguised, { sandboxId: 'prod', format: 'csv' }),
      ).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('is a Parquet file'),
      });
      expect(await h!.store.db.selectFrom('engine_ledger').select('member').execute()).toEqual([]);
    });

    it('reads blank CSV lines (before the header, between rows, at the end) and the header repeated as no rows, numbering lines right', async () => {
      const { audience, dir } = await prepare();
      const seed = join(dir, 'seed.csv');
      writeFileSync(seed, 'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,u2@x.com,1\nk3,u3@x.com,1\n');
      await h!.engine.importFile(seed, { sandboxId: 'prod' });
      const file = join(dir, 'blank.csv');
      writeFileSync(
        file,
        '\r\n\nprofile_key,email,segment:seg\r\nk1,u1@x.com,1\r\n\r\n   \r\nk4,u4@x.com,maybe\r\n' +
          '"k5","u5@x.com\r\n",1\r\n\r\nk6,u6@x.com,nope\n\n\n',
      );
      const report = await h!.engine.importFile(file, { sandboxId: 'prod' });
      expect(report).toMatchObject({ rowsRead: 4, accepted: 2, rejectedCount: 2, truncated: false });
      expect(report.rejected.map((r) => r.line)).toEqual([7, 11]);
      // Parts joined with `cat`, each under its own header (a byte order mark, CRLF): a header again is no row.
      const joined = join(dir, 'joined.csv');
      writeFileSync(
        joined,
        'profile_key,email,segment:seg\nk7,u7@x.com,1\n\ufeffProfile_Key,Email,segment:seg\r\nk8,u8@x.com,nope\r\n',
      );
      const joinedReport = await h!.engine.importFile(joined, { sandboxId: 'prod' });
      expect(joinedReport).toMatchObject({ rowsRead: 2, accepted: 1, rejectedCount: 1 });
      expect(joinedReport.rejected.map((r) => r.line)).toEqual([4]);
      // A file of blank lines holds no header.
      const blanks = join(dir, 'blanks.csv');
      writeFileSync(blanks, '\n \r\n\n');
      await expect(h!.engine.importFile(blanks, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining('is empty: a CSV file starts with its header row'),
      });
      // A mirror file ending in blank lines has no rejected rows: the absent members are removed.
      const mirror = join(dir, 'mirror.csv');
      writeFileSync(mirror, 'profile_key,email,segment:seg\nk1,u1@x.com,1\nk2,u2@x.com,1\n\n\n');
      expect(
        await h!.engine.importFile(mirror, { sandboxId: 'prod', mode: 'mirror', segmentId: 'seg' }),
      ).toMatchObject({ rowsRead: 2, accepted: 2, rejectedCount: 0, removalSkipped: null, removed: 3 });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2]),
      );
    });

    it('refuses a JSON array file that goes on after its closing bracket, naming where; mirror mode removes nobody', async () => {
      const { audience, dir } = await prepare();
      const seed = join(dir, 'seed.ndjson');
      writeFileSync(seed, [1, 2, 3].map((i) => `${JSON.stringify(profile(i))}\n`).join(''));
      await h!.engine.importFile(seed, { sandboxId: 'prod' });
      const mirror = { sandboxId: 'prod', mode: 'mirror' as const, segmentId: 'seg' };
      // Two arrays joined, or an array and something else: the rest would otherwise be dropped in silence.
      for (const [name, text] of [
        ['joined.json', `[${JSON.stringify(profile(1))}]\n[${JSON.stringify(profile(4))}]\n`],
        ['tail.json', `[${JSON.stringify(profile(1))}] ,\n`],
      ] as const) {
        const file = join(dir, name);
        writeFileSync(file, text);
        await expect(h!.engine.importFile(file, mirror)).rejects.toMatchObject({
          code: 'invalid_file',
          message: expect.stringContaining(
            `${file} is not a JSON array: the file goes on after the array's closing "]"`,
          ),
          details: [{ path: 'after item 1', reason: expect.stringContaining('goes on after') }],
          hint: expect.stringContaining('one JSON array'),
        });
      }
      // Spaces and line breaks after it are fine.
      const spaced = join(dir, 'spaced.json');
      writeFileSync(spaced, `\ufeff[${JSON.stringify(profile(1))}]\r\n\n  `);
      expect(await h!.engine.importFile(spaced, { sandboxId: 'prod' })).toMatchObject({
        rowsRead: 1,
        accepted: 1,
      });
      // An empty file, or one profile per line, is told as such.
      const empty = join(dir, 'empty.json');
      writeFileSync(empty, '');
      await expect(h!.engine.importFile(empty, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        details: [{ path: empty, reason: expect.stringContaining('the file is empty') }],
      });
      const lines = join(dir, 'lines.json');
      writeFileSync(lines, `${JSON.stringify(profile(1))}\n${JSON.stringify(profile(2))}\n`);
      await expect(h!.engine.importFile(lines, { sandboxId: 'prod' })).rejects.toMatchObject({
        code: 'invalid_file',
        details: [{ path: lines, reason: expect.stringContaining('one profile per line (NDJSON)') }],
      });
      await h!.engine.flush();
      expect(xIdentifiers(h!.emulator, (await xAudienceIdOf(h!.store, audience.id))!)).toEqual(
        emails([1, 2, 3]),
      );
    });

    it('takes an NDJSON file whose last line is cut off mid-profile for one not read in full: mirror mode removes nobody', async () => {
      const { audience, dir } = await prepare();
      const seed = join(dir, 'seed.ndjson');
      const members = Array.from({ length: 40 }, (_, i) => i);
      writeFileSync(seed, members.map((i) => `${JSON.stringify(profile(i))}\n`).join(''));
      await h!.engine.importFile(seed, { sandboxId: 'prod' });
      const mirror = { sandboxId: 'prod', mode: 'mirror' as const, segmentId: 'seg', batchSize: 7 };
      const first = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify(profile(i))).join('\n');
      // An export that stopped in line 31: the members after it are not absent, only unread.
      const cut = join(dir, 'cut.ndjson');
      writeFileSync(cut, `${first(30)}\n${JSON.stringify(profile(30)).slice(0, 40)}`);
      const report = await h!.engine.importFile(cut, mirror);
      expect(report).toMatchObject({
        rowsRead: 31,
        accepted: 30,
        rejectedCount: 1,
        truncated: true,
        removed: 0,
      });
      expect(report.rejected).toEqual([
        {
          line: 31,
          errors: [{ path: 'line 31', reason: expect.stringContaining('the file looks cut off') }],
        },
      ]);
      await h!.engine.flush();
      const xId = (await xAudienceIdOf(h!.store, audience.id))!;
      expect(xIdentifiers(h!.emulator, xId)).toEqual(emails(members));
      // A last line without a line break that is whole, or a bad line the file goes on after, is no cut.
      const whole = join(dir, 'whole.ndjson');
      writeFileSync(whole, first(39));
      expect(await h!.engine.importFile(whole, mirror)).toMatchObject({ truncated: false, removed: 1 });
      const bad = join(dir, 'bad.ndjson');
      writeFileSync(bad, `${first(38)}\n{"segmentMembership":\n`);
      const badReport = await h!.engine.importFile(bad, mirror);
      expect(badReport).toMatchObject({ truncated: false, rejectedCount: 1, removed: 1 });
      expect(badReport.rejected).toEqual([{ line: 39, errors: [{ path: '', reason: 'not valid JSON' }] }]);
    });

    it('refuses a path that is a directory or does not exist before recording any import', async () => {
      const { dir } = await prepare();
      const folder = join(dir, 'exports.ndjson');
      mkdirSync(folder);
      const missing = join(dir, 'missing.csv');
      await expect(h!.engine.importFile(folder, { sandboxId: 'prod', key: 'k-dir' })).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining(`${folder} is a directory, not a file`),
        details: [{ path: folder, reason: 'a directory' }],
      });
      await expect(
        h!.engine.importFile(missing, { sandboxId: 'prod', key: 'k-missing' }),
      ).rejects.toMatchObject({
        code: 'invalid_file',
        message: expect.stringContaining(`Cannot read ${missing}: no such file`),
        details: [{ path: missing, reason: 'no such file' }],
      });
      // Nothing to resume: no import was recorded.
      expect(await h!.store.db.selectFrom('engine_imports').select('key').execute()).toEqual([]);
    });

    it('refuses mirror mode without a segment', async () => {
      const { dir } = await prepare();
      const file = join(dir, 'x.ndjson');
      writeFileSync(file, '');
      await expect(h!.engine.importFile(file, { sandboxId: 'prod', mode: 'mirror' })).rejects.toMatchObject({
        code: 'invalid_input',
      });
    });
  });
}
