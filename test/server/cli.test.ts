import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { parquetWriteFile } from 'hyparquet-writer';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectProxy } from '../fixtures/connect-proxy.ts';
import { startObjectServer } from '../fixtures/object-server.ts';
import { startSmtpReceiver } from '../fixtures/smtp-receiver.ts';
import { nestedParquet } from '../fixtures/parquet.ts';
import { DEMO, profile, startTestService, waitFor, type TestService } from './harness.ts';

// The CLI as scripts use it: child processes against a real service on loopback, --json output and exit codes.

const ROOT = resolve(import.meta.dirname, '..', '..');
let t: TestService;

function tca(
  args: string[],
  env: Record<string, string> = {},
  /** What the command reads on standard input (none when absent). */
  input?: string | Buffer,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((r) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'tca.js'), ...args], {
      env: {
        ...process.env,
        TCA_URL: t.service.url,
        TCA_TOKEN: t.adminToken,
        TCA_DATA_DIR: t.dir,
        TCA_LOG_LEVEL: 'silent',
        ...env,
      },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => r({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.close();
});

describe('tca CLI', () => {
  let destinationId: string;
  let dataflowId: string;
  // The CSV member rows the import tests send, and the mirror options that make them the whole of segment cli-seg.
  const CSV_HEADER = 'profile_key,email,segment:cli-seg';
  const csvRow = (i: number) => `cli-e${i},cli${i}@example.com,1`;
  const mirrorArgs = () => [
    '--dataflow',
    dataflowId,
    '--mode',
    'mirror',
    '--segment',
    'cli-seg',
    '--key-namespace',
    'ECID',
  ];

  it('creates and lists destinations with --json, and verifies them (exit 0)', async () => {
    const created = await tca(
      [
        'destinations',
        'create',
        '--name',
        'CLI destination',
        '--account-id',
        DEMO.accountId,
        '--api-base-url',
        t.emulatorUrl,
        '--json',
      ],
      {
        TCA_X_CONSUMER_KEY: DEMO.credentials.consumerKey,
        TCA_X_CONSUMER_SECRET: DEMO.credentials.consumerSecret,
        TCA_X_ACCESS_TOKEN: DEMO.credentials.accessToken,
        TCA_X_ACCESS_TOKEN_SECRET: DEMO.credentials.accessTokenSecret,
      },
    );
    expect(created.code, created.stderr).toBe(0);
    destinationId = JSON.parse(created.stdout).id;
    const list = await tca(['destinations', 'list', '--json']);
    expect(JSON.parse(list.stdout).map((d: { id: string }) => d.id)).toContain(destinationId);
    const verify = await tca(['destinations', 'verify', destinationId]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain('Preflight passed');
  });

  it('changes a destination’s connection, checked first: refused credentials change nothing', async () => {
    const creds = {
      TCA_X_CONSUMER_KEY: DEMO.credentials.consumerKey,
      TCA_X_CONSUMER_SECRET: DEMO.credentials.consumerSecret,
      TCA_X_ACCESS_TOKEN: DEMO.credentials.accessToken,
      TCA_X_ACCESS_TOKEN_SECRET: DEMO.credentials.accessTokenSecret,
    };
    // Variables alone change nothing: an update takes them only when asked to.
    const named = await tca(['destinations', 'update', destinationId, '--name', 'CLI destination'], creds);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).not.toContain('connection');
    const partial = await tca(['destinations', 'update', destinationId, '--access-token', 'x']);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain('Give all four credentials');
    const refused = await tca(
      ['destinations', 'update', destinationId, '--credentials-from-env', '--access-token-secret', 'wrong'],
      creds,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Refused: the new connection fails a check of the preflight');
    expect(refused.stderr).toContain('- credentials: Check "Credentials are valid" failed');
    const moved = await tca(
      ['destinations', 'update', destinationId, '--api-base-url', t.emulatorUrl, '--credentials-from-env'],
      creds,
    );
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain('the new connection passed the preflight');
    const verify = await tca(['destinations', 'verify', destinationId]);
    expect(verify.stdout).toContain('Preflight passed');
  });

  it('exits 1 with the problems listed when the service refuses', async () => {
    const r = await tca(['destinations', 'create', '--name', 'Bad: name', '--account-id', DEMO.accountId]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/name: /);
  });

  it('creates segments and a dataflow, shows, plans, pauses and resumes it', async () => {
    expect((await tca(['segments', 'create', '--id', 'cli-seg', '--name', 'CLI Buyers'])).code).toBe(0);
    const df = await tca([
      'dataflows',
      'create',
      '--name',
      'CLI flow',
      '--destination',
      destinationId,
      '--segment',
      'cli-seg',
      '--map',
      'namespace:Email=email:hash',
      '--json',
    ]);
    expect(df.code, df.stderr).toBe(0);
    dataflowId = JSON.parse(df.stdout).id;
    const show = await tca(['dataflows', 'show', dataflowId]);
    expect(show.stdout).toContain('namespace:Email → email (apply transformation)');
    expect((await tca(['dataflows', 'plan', dataflowId, '--json'])).code).toBe(0);
    expect((await tca(['dataflows', 'plan', dataflowId])).stdout).toContain('CONSENTPOLICIES');
    expect(JSON.parse((await tca(['dataflows', 'pause', dataflowId, '--json'])).stdout).status).toBe(
      'paused',
    );
    expect(JSON.parse((await tca(['dataflows', 'resume', dataflowId, '--json'])).stdout).status).toBe(
      'active',
    );

    // Changed in place: a second segment added with an end date, then removed again; the first one kept as it was.
    expect((await tca(['segments', 'create', '--id', 'cli-seg-2', '--name', 'CLI Browsers'])).code).toBe(0);
    const added = await tca([
      'dataflows',
      'update',
      dataflowId,
      '--name',
      'CLI flow, renamed',
      '--add-segment',
      'cli-seg-2',
      '--end',
      'cli-seg=2099-12-31',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const updated = JSON.parse(added.stdout);
    expect(updated.name).toBe('CLI flow, renamed');
    expect(
      updated.audiences.map((a: { segmentId: string; endDate: string | null }) => [a.segmentId, a.endDate]),
    ).toEqual([
      ['cli-seg', '2099-12-31'],
      ['cli-seg-2', null],
    ]);
    // A segment it activates already is not added again: said so, nothing written, nothing recorded as a change.
    const trail = async () =>
      (await t.call('GET', `/api/v1/audit-events?target=${dataflowId}`, { token: t.adminToken })).body.items
        .length as number;
    const recorded = await trail();
    const again = await tca(['dataflows', 'update', dataflowId, '--add-segment', 'cli-seg-2', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(
      `${dataflowId} already activates cli-seg-2: not added again, nothing to change for it`,
    );
    expect(again.stderr).toContain(`Nothing changed: ${dataflowId} is as it was`);
    expect(JSON.parse(again.stdout)).toEqual(updated);
    // With settings it already has, the service answers the dataflow as it was (its updatedAt stays).
    const sameName = await tca([
      'dataflows',
      'update',
      dataflowId,
      '--add-segment',
      'cli-seg',
      '--name',
      'CLI flow, renamed',
      '--json',
    ]);
    expect(sameName.code, sameName.stderr).toBe(0);
    expect(sameName.stderr).toContain(`Nothing changed: ${dataflowId} already had these settings`);
    expect(JSON.parse(sameName.stdout).updatedAt).toBe(updated.updatedAt);
    expect(await trail()).toBe(recorded);
    const unknown = await tca(['dataflows', 'update', dataflowId, '--remove-segment', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('does not activate nope (it activates cli-seg, cli-seg-2)');
    expect((await tca(['dataflows', 'update', dataflowId, '--end', 'cli-seg=soon'])).code).toBe(2);
    expect((await tca(['dataflows', 'update', dataflowId])).code).toBe(2);
    const removed = await tca([
      'dataflows',
      'update',
      dataflowId,
      '--remove-segment',
      'cli-seg-2',
      '--end',
      'cli-seg=none',
    ]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('cli-seg as "CLI Buyers" from');
    expect(removed.stdout).not.toContain('cli-seg-2');
    expect(removed.stdout).not.toContain('2099');
    // The X audiences of segments removed from here on stay in X.
    const keeping = await tca(['dataflows', 'update', dataflowId, '--on-remove', 'keep', '--json']);
    expect(keeping.code, keeping.stderr).toBe(0);
    expect(JSON.parse(keeping.stdout).onAudienceRemoval).toBe('keep');
    const notAChoice = await tca(['dataflows', 'update', dataflowId, '--on-remove', 'later']);
    expect(notAChoice.code).toBe(2);
    expect(notAChoice.stderr).toContain('--on-remove "later" must be delete or keep');
    // Expecting profiles at least daily: an alert when none arrive for 26 hours; `none` stops it.
    const expecting = await tca(['dataflows', 'update', dataflowId, '--alert-no-data', '26']);
    expect(expecting.code, expecting.stderr).toBe(0);
    expect(expecting.stdout).toContain('alerts when no profiles arrive for 26 hours');
    const notHours = await tca(['dataflows', 'update', dataflowId, '--alert-no-data', 'daily']);
    expect(notHours.code).toBe(2);
    expect(notHours.stderr).toContain('must be a whole number of hours');
    // A window that is not a number is a usage error naming the range, with one line of help rather than a page.
    const notSeconds = await tca(['dataflows', 'update', dataflowId, '--max-batch-age', 'abc']);
    expect(notSeconds.code).toBe(2);
    expect(notSeconds.stderr).toContain("argument 'abc' is invalid. a whole number from 60 to 28800");
    expect(notSeconds.stderr).toContain('(add --help for usage)');
    expect(notSeconds.stderr).not.toContain('Options:');
    const outOfRange = await tca(['dataflows', 'update', dataflowId, '--alert-no-data', '0']);
    expect(outOfRange.code).toBe(1);
    expect(outOfRange.stderr).toContain('noDataAlertHours');
    const stopped = await tca(['dataflows', 'update', dataflowId, '--alert-no-data', 'none', '--json']);
    expect(JSON.parse(stopped.stdout).noDataAlertHours).toBeNull();
  });

  it('refuses blank names and names with line breaks, listing the problem (exit 1); stores names trimmed', async () => {
    const blank = await tca(['segments', 'create', '--id', '   ', '--name', '   ']);
    expect(blank.code).toBe(1);
    expect(blank.stderr).toContain('- id: The segment id is empty');
    expect(blank.stderr).toContain('- name: The segment name is empty.');
    const twoLines = await tca(['segments', 'create', '--id', 'cli-two-lines', '--name', 'CLI\nBuyers']);
    expect(twoLines.code).toBe(1);
    expect(twoLines.stderr).toContain('Suggestion: "CLI Buyers"');
    const flow = await tca(['dataflows', 'update', dataflowId, '--name', ' \t ']);
    expect(flow.code).toBe(1);
    expect(flow.stderr).toContain('- name: The dataflow name is empty.');
    const destination = await tca(['destinations', 'update', destinationId, '--name', '  ']);
    expect(destination.code).toBe(1);
    expect(destination.stderr).toContain('- name: The destination name is empty.');
    const trimmed = await tca([
      'segments',
      'create',
      '--id',
      'cli-trimmed',
      '--name',
      ' CLI Trimmed ',
      '--json',
    ]);
    expect(trimmed.code, trimmed.stderr).toBe(0);
    expect(JSON.parse(trimmed.stdout).name).toBe('CLI Trimmed');
  });

  it('deletes a segment no dataflow activates, and refuses one a dataflow activates, naming it (exit 1)', async () => {
    const inUse = await tca(['segments', 'delete', 'cli-seg']);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain('The segment is activated by a dataflow');
    expect(inUse.stderr).toContain(`- id: activated by dataflow ${dataflowId} ("CLI flow, renamed", active)`);
    expect((await tca(['segments', 'list', '--json'])).stdout).toContain('"cli-seg"');
    const gone = await tca(['segments', 'delete', 'cli-trimmed', '--json']);
    expect(gone.code, gone.stderr).toBe(0);
    expect(JSON.parse(gone.stdout)).toEqual({ deleted: 'cli-trimmed' });
    const listed = JSON.parse((await tca(['segments', 'list', '--json'])).stdout) as Array<{ id: string }>;
    expect(listed.map((s) => s.id)).not.toContain('cli-trimmed');
    const again = await tca(['segments', 'delete', 'cli-trimmed']);
    expect(again.code).toBe(4);
    const plain = await tca(['segments', 'create', '--id', 'cli-plain', '--name', 'Plain']);
    expect(plain.code).toBe(0);
    expect((await tca(['segments', 'delete', 'cli-plain'])).stdout).toBe('Deleted segment cli-plain\n');
  });

  it('imports an NDJSON file over the API with a report, and again with --local', async () => {
    const file = join(t.dir, 'profiles.ndjson');
    const lines = [
      ...Array.from({ length: 30 }, (_, i) =>
        JSON.stringify(profile(`cli${i}@example.com`, { 'cli-seg': 'realized' }, `cli-e${i}`)),
      ),
      '{"broken": ',
    ];
    await writeFile(file, lines.join('\n') + '\n');
    const remote = await tca(['import', file, '--dataflow', dataflowId, '--json', '--batch', '7']);
    expect(remote.code, remote.stderr).toBe(0);
    const report = JSON.parse(remote.stdout);
    expect(report).toMatchObject({ rowsRead: 31, accepted: 30, rejectedCount: 1 });
    expect(report.rejected[0].line).toBe(31);
    const local = await tca(['import', file, '--dataflow', dataflowId, '--local', '--json']);
    expect(local.code, local.stderr).toBe(0);
    const localReport = JSON.parse(local.stdout) as { key: string };
    expect(localReport).toMatchObject({ rowsRead: 31, accepted: 30 });
    // The import is listed under its key, with its rejected line.
    const shown = await tca(['imports', 'show', localReport.key]);
    expect(shown.stdout).toContain(`Import ${localReport.key}: complete (ndjson, incremental)`);
    expect(shown.stdout).toMatch(/ {2}line 31: \S/);
    // The same file gzipped: read as its content, over the ingest API and through the imports API alike.
    const gz = join(t.dir, 'profiles.ndjson.gz');
    await writeFile(gz, gzipSync(lines.join('\n') + '\n'));
    for (const extra of [[], ['--mode', 'mirror', '--segment', 'cli-seg']]) {
      const zipped = await tca(['import', gz, '--dataflow', dataflowId, '--json', ...extra]);
      expect(zipped.code, zipped.stderr).toBe(0);
      expect(JSON.parse(zipped.stdout)).toMatchObject({
        format: 'ndjson',
        rowsRead: 31,
        accepted: 30,
        rejectedCount: 1,
      });
    }
    // The imported changes wait, and the table says until when and why.
    const waiting = await tca(['audiences', '--dataflow', dataflowId]);
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(waiting.stdout).toMatch(/PENDINGADDS\s+PENDINGREMOVES\s+NEXTDELIVERYAT\s+NEXTDELIVERYREASON/);
    expect(waiting.stdout).toMatch(/\s30\s+0\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+batch_window\s/);
    const flushed = await tca(['dataflows', 'flush', dataflowId]);
    expect(flushed.code, flushed.stderr).toBe(0);
    // The dataflow's first delivery: it made the X audience too.
    expect(flushed.stdout).toMatch(
      /^Delivered in \d+ requests?: [\d,]+ identifiers added, 0 removed\. Created 1 X audience\.\n$/,
    );
    const auds = await tca(['audiences', '--dataflow', dataflowId, '--json']);
    const [a] = JSON.parse(auds.stdout);
    expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(30);
    const runs = await tca(['runs', dataflowId, '--json']);
    expect(JSON.parse(runs.stdout)[0].identitiesAdded).toBeGreaterThanOrEqual(30);
    const table = await tca(['runs', dataflowId]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/XREQUESTS\s+PENDINGPEAK/);
    // Only the runs with failed identities: none here; a kind it does not know is a usage error.
    const failedRuns = await tca(['runs', dataflowId, '--with', 'failed', '--json']);
    expect(failedRuns.code, failedRuns.stderr).toBe(0);
    expect(JSON.parse(failedRuns.stdout)).toEqual([]);
    expect((await tca(['runs', dataflowId, '--with', 'broken'])).code).toBe(2);

    // The overview: the dataflow's row sums its runs; --attention keeps only the rows that say why they need a look.
    const overview = await tca(['monitor', '--range', '7d', '--json']);
    expect(overview.code, overview.stderr).toBe(0);
    const o = JSON.parse(overview.stdout) as {
      from: string;
      summary: { dataflows: number };
      dataflows: Array<{ dataflowId: string; identitiesAdded: number; attention: string[] }>;
    };
    const weekRuns = JSON.parse(
      (await tca(['runs', dataflowId, '--json', '--from', o.from])).stdout,
    ) as Array<{
      identitiesAdded: number;
    }>;
    expect(o.dataflows.find((d) => d.dataflowId === dataflowId)?.identitiesAdded).toBe(
      weekRuns.reduce((n, r) => n + r.identitiesAdded, 0),
    );
    const printed = await tca(['monitor']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(new RegExp(`${o.summary.dataflows} dataflows?, \\d+ needing a look`));
    expect(printed.stdout).toContain(dataflowId);
    const attention = JSON.parse((await tca(['monitor', '--attention', '--json'])).stdout) as typeof o;
    expect(attention.dataflows.every((d) => d.attention.length > 0)).toBe(true);
    const unknown = await tca(['monitor', '--range', '1y']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Allowed choices are 24h, 7d, 30d');
  });

  it('exits 1 from a flush that delivered nothing (X refused the credentials), and verify resumes the dataflow', async () => {
    // A dataflow of its own, removed at the end, so the others keep their counts.
    const token = t.adminToken;
    await t.call('POST', '/api/v1/segments', { token, body: { id: 'cli-refused', name: 'CLI refused' } });
    const dst = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'CLI refused', accountId: DEMO.accountId, credentials: DEMO.credentials },
    });
    const flow = await t.call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'CLI refused',
        destinationId: dst.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'cli-refused', mappingName: 'CLI refused' }],
      },
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    const id = flow.body.id as string;
    const waiting = (email: string) =>
      t.call('POST', '/api/v1/ingest/profiles', {
        token,
        body: profile(email, { 'cli-refused': 'realized' }),
      });
    await waiting('refused1@example.com');
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 401 }] });
    const refused = await tca(['dataflows', 'flush', id]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stdout).toMatch(
      /^Incomplete: 1 of 1 audience did not deliver; its changes wait\. (Created 1 X audience\. )?Audience \S+ is paused: X Ads API returned HTTP 401 .+ The dataflow's status says what to fix\.\n$/,
    );
    // As JSON too: the status a script reads, and the same exit code.
    const held = await tca(['dataflows', 'flush', id, '--json']);
    expect(held.code, held.stderr).toBe(1);
    expect(JSON.parse(held.stdout)).toMatchObject({
      status: 'incomplete',
      audiences: [{ outcome: 'paused', message: 'dataflow is paused' }],
    });
    // The destination verifies: the dataflow is resumed by that command, and the next flush delivers at once.
    const verified = await tca(['destinations', 'verify', dst.body.id]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`Preflight passed.\nResumed dataflow ${id}.\n`);
    const delivered = await tca(['dataflows', 'flush', id]);
    expect(delivered.code, delivered.stderr).toBe(0);
    expect(delivered.stdout).toMatch(/^Delivered in 1 request: 1 identifier added, 0 removed\./);
    // A flush left in the background (--wait 0) is not a failure.
    await waiting('refused2@example.com');
    expect((await tca(['dataflows', 'flush', id, '--wait', '0'])).code).toBe(0);
    await waitFor(
      async () =>
        (await t.call('GET', `/api/v1/audiences?dataflowId=${id}`, { token })).body.items[0]?.pendingAdds ===
        0
          ? true
          : undefined,
      20_000,
      'the background flush',
    );
    expect((await t.call('DELETE', `/api/v1/dataflows/${id}`, { token })).status).toBe(204);
    expect((await t.call('DELETE', `/api/v1/destinations/${dst.body.id}`, { token })).status).toBe(204);
  });

  it('silences alerts for a while, lists the silences and ends one', async () => {
    const made = await tca([
      'alerts',
      'silence',
      '--dataflow',
      dataflowId,
      '--type',
      'dataflow_paused',
      '--for',
      '1h30m',
      '--comment',
      'rotating the X app keys',
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const silence = JSON.parse(made.stdout);
    expect(silence).toMatchObject({ dataflowId, type: 'dataflow_paused', state: 'active' });
    expect(Date.parse(silence.endsAt) - Date.parse(silence.startsAt)).toBe(90 * 60_000);
    const ahead = await tca([
      'alerts',
      'silence',
      '--starts',
      new Date(Date.now() + 86_400_000).toISOString(),
      '--for',
      '4h',
      '--comment',
      'warehouse backfill',
    ]);
    expect(ahead.stdout).toMatch(/^Silenced every alert of every dataflow from \S+ until \S+ \(sil_\w+\)$/m);
    const listed = await tca(['alerts', 'silences']);
    expect(listed.stdout).toMatch(/ID\s+STATE\s+COVERS/);
    expect(listed.stdout).toContain(`dataflow_paused alerts of ${dataflowId}`);
    expect(listed.stdout).toMatch(/pending\s+every alert of every dataflow/);
    const ended = await tca(['alerts', 'unsilence', silence.id]);
    expect(ended.stdout).toBe(
      `Ended ${silence.id}: dataflow_paused alerts of ${dataflowId} are sent again\n`,
    );
    const expired = JSON.parse((await tca(['alerts', 'silences', '--expired', '--json'])).stdout);
    expect(expired.find((x: { id: string }) => x.id === silence.id).state).toBe('ended');
    const pendingId = expired.find((x: { state: string }) => x.state === 'pending').id;
    // One still to start is called off.
    const calledOff = await tca(['alerts', 'unsilence', pendingId]);
    expect(calledOff.code).toBe(0);
    expect(calledOff.stdout).toBe(`Ended ${pendingId}: every alert of every dataflow is sent again\n`);
    expect(JSON.parse((await tca(['alerts', 'silences', '--json'])).stdout)).toEqual([]);
    // Refused with the reason, before or by the service.
    const both = await tca(['alerts', 'silence', '--comment', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either --for or --until');
    const tooLong = await tca(['alerts', 'silence', '--for', '31d', '--comment', 'x']);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toContain('durationMinutes');
    expect((await tca(['alerts', 'unsilence', 'sil_nope'])).code).toBe(4);
  });

  it('lists alerts: firing and resolved, or only one kind', async () => {
    const sandbox = (await t.service.store.sandboxes.list()).find((s) => s.name === 'prod')!;
    const state = (key: string, status: 'firing' | 'resolved', firedAt: number) => ({
      id: key,
      key,
      sandbox_id: sandbox.id,
      dataflow_id: dataflowId,
      type: 'dataflow_paused',
      alert: JSON.stringify({
        id: key,
        alertId: key,
        status: 'firing',
        type: 'dataflow_paused',
        severity: 'critical',
        sandbox: 'prod',
        dataflowId,
        dataflowName: 'CLI flow',
        destinationId,
        message: `Dataflow "CLI flow" is paused: ${key}`,
        text: '',
        firedAt: new Date(firedAt).toISOString(),
        details: {},
      }),
      urls: '[]',
      fired_at: firedAt,
      resolved_at: status === 'resolved' ? firedAt + 60_000 : null,
    });
    const now = Date.now();
    await t.service.store.db
      .insertInto('alert_states')
      .values([state('alr_old', 'resolved', now - 3_600_000), state('alr_new', 'firing', now)])
      .execute();
    const all = await tca(['alerts', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(
      JSON.parse(all.stdout).map((a: { alertId: string; status: string }) => [a.alertId, a.status]),
    ).toEqual([
      ['alr_new', 'firing'],
      ['alr_old', 'resolved'],
    ]);
    const firing = await tca(['alerts', '--firing']);
    expect(firing.stdout).toContain('alr_new');
    expect(firing.stdout).not.toContain('alr_old');
    expect(firing.stdout).toMatch(/STATUS\s+SEVERITY\s+TYPE/);
    const resolved = JSON.parse((await tca(['alerts', '--resolved', '--json'])).stdout);
    expect(resolved.map((a: { alertId: string }) => a.alertId)).toEqual(['alr_old']);
    const mine = JSON.parse((await tca(['alerts', '--dataflow', dataflowId, '--json'])).stdout);
    expect(mine.map((a: { alertId: string }) => a.alertId)).toEqual(['alr_new', 'alr_old']);
    expect(JSON.parse((await tca(['alerts', '--dataflow', 'df_none', '--json'])).stdout)).toEqual([]);
    // Acknowledged from here: the list says by whom; a resolved alert cannot be, an unknown one is not found.
    const ack = await tca(['alerts', 'ack', 'alr_new']);
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.stdout).toContain('Acknowledged alr_new (dataflow_paused of CLI flow) by ');
    expect((await tca(['alerts', '--firing'])).stdout).toMatch(/alr_new\s+firing \(acknowledged by \S+\)/);
    expect((await tca(['alerts', 'ack', 'alr_old'])).code).toBe(1);
    expect((await tca(['alerts', 'ack', 'alr_nope'])).code).toBe(4);
    // No installation-wide webhook to test: refused, saying what to set.
    const test = await tca(['alerts', '--test']);
    expect(test.code).not.toBe(0);
    expect(test.stderr).toContain('TCA_ALERT_WEBHOOK_URL');
    const pagerDuty = await tca(['alerts', '--test-pagerduty']);
    expect(pagerDuty.code).toBe(1);
    expect(pagerDuty.stderr).toContain('TCA_ALERT_PAGERDUTY_ROUTING_KEY');
    const email = await tca(['alerts', '--test-email']);
    expect(email.code).toBe(1);
    expect(email.stderr).toContain('TCA_ALERT_EMAIL_TO');
  });

  it("sends a test alert to a destination's webhook: exit 0 when delivered, 1 with the reason when not", async () => {
    const hits: string[] = [];
    const hook = createServer((socket) => {
      socket.once('data', (chunk: Buffer) => {
        hits.push(chunk.toString('utf8').split('\r\n')[0]!);
        socket.end('HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    try {
      const set = await tca([
        'destinations',
        'update',
        destinationId,
        '--alert-webhook',
        url,
        '--alert-webhook-format',
        'json',
      ]);
      expect(set.code, set.stderr).toBe(0);
      // Named by its origin: the URL is a secret.
      expect(set.stdout).toContain(`alerts to ${new URL(url).origin}`);
      expect(set.stdout).not.toContain('/hook');
      const ok = await tca(['destinations', 'test-alert', destinationId]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`Delivered: ${new URL(url).origin} accepted`);
      expect(hits).toEqual(['POST /hook HTTP/1.1']);
    } finally {
      await new Promise((r) => hook.close(r));
    }
    const down = await tca(['destinations', 'test-alert', destinationId, '--json']);
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout)).toMatchObject({ webhook: new URL(url).origin, delivered: false });
    // This service sends no email: recipients are refused, naming what to set, and nothing changes.
    const mail = await tca(['destinations', 'update', destinationId, '--alert-email', 'crm@example.com']);
    expect(mail.code).toBe(1);
    expect(mail.stderr).toContain('TCA_SMTP_URL');
    const noEmail = await tca(['destinations', 'test-email', destinationId]);
    expect(noEmail.code).toBe(1);
    expect(noEmail.stderr).toContain('TCA_ALERT_EMAIL_FROM and TCA_SMTP_URL');
    expect((await tca(['destinations', 'update', destinationId])).code).toBe(2);
    const format = await tca(['destinations', 'update', destinationId, '--alert-webhook-format', 'discord']);
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('json, slack, teams, google-chat');
    const cleared = await tca(['destinations', 'update', destinationId, '--alert-webhook', 'none', '--json']);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ alertWebhook: null, alertEmailTo: [] });

    // Its own PagerDuty key: nothing to test before one is set; set, it is never printed; `none` removes it.
    const untested = await tca(['destinations', 'test-pagerduty', destinationId]);
    expect(untested.code).toBe(1);
    expect(untested.stderr).toContain('alertPagerDutyRoutingKey');
    const badKey = await tca(['destinations', 'update', destinationId, '--alert-pagerduty-key', 'abc']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('32 letters and digits');
    const key = 'CliTeamKey0123456789abcdefABCDEF';
    const paged = await tca(['destinations', 'update', destinationId, '--alert-pagerduty-key', key]);
    expect(paged.code, paged.stderr).toBe(0);
    expect(paged.stdout).toContain('alerts to its own PagerDuty key');
    expect(paged.stdout).not.toContain(key);
    const shown = await tca([
      'destinations',
      'update',
      destinationId,
      '--alert-pagerduty-key',
      'none',
      '--json',
    ]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ hasAlertPagerDutyKey: false });
    expect(shown.stdout).not.toContain(key);
    // Which alert types its own targets receive: a list, `none`, `all`; an unknown type refused with the API's reason.
    const only = await tca([
      'destinations',
      'update',
      destinationId,
      '--alert-webhook',
      'http://127.0.0.1:9/hook',
      '--alert-types',
      'dataflow_paused, dataflow_failed',
    ]);
    expect(only.code, only.stderr).toBe(0);
    expect(only.stdout).toContain('alerts to http://127.0.0.1:9, for dataflow_failed, dataflow_paused only');
    const muted = await tca(['destinations', 'update', destinationId, '--alert-types', 'none']);
    expect(muted.stdout).toContain(
      'alerts to the installation’s targets only (http://127.0.0.1:9 subscribed to no alert type)',
    );
    const unknownType = await tca([
      'destinations',
      'update',
      destinationId,
      '--alert-types',
      'dataflow_on_fire',
    ]);
    expect(unknownType.code).toBe(1);
    expect(unknownType.stderr).toContain('alertTypes');
    const all = await tca([
      'destinations',
      'update',
      destinationId,
      '--alert-types',
      'all',
      '--alert-webhook',
      'none',
      '--json',
    ]);
    expect(JSON.parse(all.stdout)).toMatchObject({ alertTypes: null, alertWebhook: null });
  });

  it('streams a CSV file to the service in mirror mode: members absent from it leave the audience', async () => {
    const file = join(t.dir, 'members.csv');
    // The same people as the NDJSON import (keyed by ECID), only the first ten of them.
    const rows = Array.from({ length: 10 }, (_, i) => csvRow(i));
    await writeFile(file, [CSV_HEADER, ...rows].join('\n') + '\n');
    // Allowed to remove at most half of the segment, the import removes nobody and says so with exit 1.
    const held = await tca(['import', file, ...mirrorArgs(), '--max-removed', '50']);
    expect(held.code).toBe(1);
    expect(held.stdout).toContain(
      "Nobody removed: 20 of the segment's 30 known members are absent from the file (more than 50%)",
    );
    // Allowed the default 90%, the same file is a new import (not the one that removed nobody).
    const r = await tca(['import', file, ...mirrorArgs(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      format: 'csv',
      mode: 'mirror',
      rowsRead: 10,
      accepted: 10,
      removed: 20,
    });
    await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
    const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
    expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(10);

    // The same command again: the file is unchanged, so its key names the completed import, and nothing is read.
    const args = ['import', file, '--dataflow', dataflowId, '--mode', 'mirror', '--segment', 'cli-seg'];
    const again = await tca([...args, '--key-namespace', 'ECID']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Imported before under the key file-');
    const key = /Import key: (\S+)/.exec(again.stdout)![1]!;
    expect((await tca(['imports', 'list', '--status', 'interrupted'])).stdout).not.toContain(key);
    expect((await tca(['imports', 'list', '--status', 'complete'])).stdout).toContain(key);
    expect((await tca(['imports', 'list', '--status', 'done'])).code).toBe(2);
    const listed = await tca(['imports', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`${key}\\s+complete\\s+csv\\s+mirror\\s+10\\s+10`));
    const shown = await tca(['imports', 'show', key]);
    expect(shown.stdout).toContain(`Import ${key}: complete (csv, mirror of cli-seg), 1 attempt`);
    expect(shown.stdout).toContain('Removed: 20');
    // Under that key, another namespace is another import: refused, with what differs.
    const other = await tca([...args, '--key', key, '--key-namespace', 'CRMID']);
    expect(other.code).not.toBe(0);
    expect(other.stdout + other.stderr).toContain('keyNamespace');

    const missing = await tca([
      'import',
      file,
      '--dataflow',
      dataflowId,
      '--mode',
      'mirror',
      '--segment',
      'nope',
      '--json',
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toContain('no segment nope');
  });

  it('says when a syntax error stopped reading a file, and that mirror mode then removed nobody', async () => {
    const file = join(t.dir, 'unclosed.csv');
    // Ten members, then a quote not closed: the rows after it are not read, so the file is not the whole segment.
    const rows = Array.from({ length: 10 }, (_, i) => csvRow(i));
    await writeFile(
      file,
      [CSV_HEADER, ...rows, 'cli-e10,"cli10@example.com,1', csvRow(11)].join('\n') + '\n',
    );
    const r = await tca(['import', file, ...mirrorArgs()]);
    expect(r.stdout).toContain('Rows read: 11');
    expect(r.stdout).toContain(
      'Reading stopped at line 12 (a syntax error): the rest of the file was not read, so nobody was removed',
    );
    // The row that cannot be read is named once: its line is its path.
    expect(r.stdout).toContain('  line 12: Quote Not Closed');
    const key = /Import key: (\S+)/.exec(r.stdout)![1]!;
    expect((await tca(['imports', 'show', key])).stdout).toContain('Reading stopped at line 12');
  });

  it('warns of a segment column no dataflow activates, and imports its rows all the same', async () => {
    const file = join(t.dir, 'unactivated.csv');
    const rows = Array.from({ length: 3 }, (_, i) => `${csvRow(i)},1`);
    await writeFile(file, [`${CSV_HEADER},segment:cli-nobody`, ...rows].join('\n') + '\n');
    const r = await tca(['import', file, '--dataflow', dataflowId, '--key-namespace', 'ECID']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Accepted: 3');
    expect(r.stderr).toContain(
      'warning: No dataflow of this sandbox activates segment cli-nobody (column "segment:cli-nobody"): the rows ' +
        'were imported, but the memberships that column holds reach no audience. Activate it ' +
        '(tca dataflows update <dataflow> --add-segment cli-nobody',
    );
    const json = await tca(['import', file, '--dataflow', dataflowId, '--key-namespace', 'ECID', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      replayed: true,
      warnings: [
        { code: 'segment_not_activated', segmentIds: ['cli-nobody'], columns: ['segment:cli-nobody'] },
      ],
    });
    const key = /Import key: (\S+)/.exec(r.stdout)![1]!;
    expect((await tca(['imports', 'show', key])).stderr).toContain(
      'warning: No dataflow of this sandbox activates segment cli-nobody',
    );
  });

  it('lists and shows the profiles an import read, not the blank lines between them', async () => {
    const file = join(t.dir, 'spaced.ndjson');
    const lines = [0, 1, 2].map((i) =>
      JSON.stringify(profile(`spaced${i}@example.com`, { 'not-activated': 'realized' }, `spaced-e${i}`)),
    );
    await writeFile(file, ['', lines[0], '', '', lines[1], lines[2], '', ''].join('\n'));
    const r = await tca(['import', file, '--dataflow', dataflowId]);
    expect(r.stdout).toContain('Rows read: 3');
    const key = /Import key: (\S+)/.exec(r.stdout)![1]!;
    expect((await tca(['imports', 'list'])).stdout).toMatch(
      new RegExp(`${key}\\s+complete\\s+ndjson\\s+incremental\\s+3\\s+3\\s`),
    );
    const shown = (await tca(['imports', 'show', key])).stdout;
    expect(shown).toContain('Rows read: 3');
    expect(shown).toContain('Resume position: 7 lines of the file written');

    // An export that wrote nothing is a valid, empty delta, said as such.
    const blank = join(t.dir, 'blank.ndjson');
    await writeFile(blank, '\n\n');
    const empty = await tca(['import', blank, '--dataflow', dataflowId]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stderr).toContain('warning: the file holds no profiles: nothing changed');
  });

  it('names a rejected element of a JSON array by its item number, not as a line', async () => {
    const file = join(t.dir, 'array.json');
    const items = [
      profile('item1@example.com', { 'not-activated': 'realized' }, 'item-e1'),
      { segmentMembership: 5 },
      profile('item3@example.com', { 'not-activated': 'realized' }, 'item-e3'),
    ];
    // One line holds the whole array: "line 2" would point at nothing. (Its segment is not the dataflow's, so the
    // audience the other tests count is left as it is.)
    await writeFile(file, JSON.stringify(items));
    const r = await tca(['import', file, '--dataflow', dataflowId]);
    expect(r.stdout).toContain('Rejected: 1');
    expect(r.stdout).toMatch(/\n {2}item 2: \S/);
    const key = /Import key: (\S+)/.exec(r.stdout)![1]!;
    expect((await tca(['imports', 'show', key])).stdout).toMatch(/\n {2}item 2: \S/);
  });

  it('imports a Parquet file: sent as CSV over the API, read in place with --local, refused when nested', async () => {
    const file = join(t.dir, 'members.parquet');
    // The same ten members as the CSV mirror, and a row without a key.
    const keys = [...Array.from({ length: 10 }, (_, i) => `cli-e${i}`), ''];
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'profile_key', data: keys, type: 'STRING' },
        { name: 'email', data: keys.map((_, i) => `cli${i}@example.com`), type: 'STRING' },
        { name: 'segment:cli-seg', data: keys.map(() => true), type: 'BOOLEAN' },
      ],
      rowGroupSize: 4,
    });
    const args = ['import', file, '--dataflow', dataflowId, '--mode', 'mirror', '--segment', 'cli-seg'];
    // The row without a key is one of eleven rejected, so mirror mode removes nobody (exit 1), as the report says.
    const remote = await tca([...args, '--key-namespace', 'ECID', '--json']);
    expect(remote.code, remote.stderr).toBe(1);
    expect(JSON.parse(remote.stdout).removalSkipped).toMatch(/^1 of 11 rows were rejected/);
    const expected = { rowsRead: 11, accepted: 10, rejectedCount: 1, removed: 0 };
    expect(JSON.parse(remote.stdout)).toMatchObject({ format: 'csv', ...expected });
    expect(JSON.parse(remote.stdout).rejected[0].line).toBe(12);
    const local = await tca([...args, '--key-namespace', 'ECID', '--local', '--key', 'pq-local', '--json']);
    expect(local.code, local.stderr).toBe(1);
    expect(JSON.parse(local.stdout)).toMatchObject({ format: 'parquet', ...expected });
    expect((await tca(['imports', 'show', 'pq-local'])).stdout).toContain(
      'complete (parquet, mirror of cli-seg)',
    );
    await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
    const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
    expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(10);

    const nested = join(t.dir, 'nested.parquet');
    await writeFile(nested, nestedParquet());
    const refused = await tca(['import', nested, '--dataflow', dataflowId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('has columns a profile row cannot hold');
    expect(refused.stderr).toContain('column "address"');
  });

  it('imports the parts of one export as one file: mirror across the parts, rejected lines named by their part', async () => {
    // The same ten members as before, split in three CSV parts (the second gzipped with a byte order mark, the last
    // without a final newline).
    const csvParts = [join(t.dir, 'part-0.csv'), join(t.dir, 'part-1.csv.gz'), join(t.dir, 'part-2.csv')];
    await writeFile(csvParts[0]!, [CSV_HEADER, csvRow(0), csvRow(1), csvRow(2)].join('\n') + '\n');
    await writeFile(
      csvParts[1]!,
      gzipSync(`\uFEFF${[CSV_HEADER, csvRow(3), csvRow(4), csvRow(5)].join('\n')}\n`),
    );
    await writeFile(
      csvParts[2]!,
      [CSV_HEADER, csvRow(6), csvRow(7), ',nobody@example.com,1', csvRow(8), csvRow(9)].join('\n'),
    );
    const mirror = mirrorArgs();
    for (const extra of [[], ['--local']]) {
      // One rejected row of eleven: mirror mode removes nobody (exit 1).
      const r = await tca(['import', ...csvParts, ...mirror, ...extra, '--json']);
      expect(r.code, r.stderr).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ rowsRead: 11, accepted: 10, rejectedCount: 1, removed: 0 });
      // Line 10 of what was sent (two headers left out) is line 4 of the third part.
      expect(report.rejected[0]).toMatchObject({ line: 10, file: csvParts[2], fileLine: 4 });
    }
    const text = await tca(['import', ...csvParts, ...mirror, '--key', 'parts-text']);
    expect(text.stdout).toContain(`${csvParts[2]} line 4: column "profile_key"`);

    // Parquet parts: their rows as one CSV.
    const parquetParts = [0, 1].map((p) => join(t.dir, `part-${p}.parquet`));
    for (const [p, path] of parquetParts.entries()) {
      const ids = p === 0 ? [0, 1, 2, 3, 4] : [5, 6, 7, 8, 9];
      parquetWriteFile({
        filename: path,
        columnData: [
          { name: 'profile_key', data: ids.map((i) => `cli-e${i}`), type: 'STRING' },
          { name: 'email', data: ids.map((i) => `cli${i}@example.com`), type: 'STRING' },
          { name: 'segment:cli-seg', data: ids.map(() => true), type: 'BOOLEAN' },
        ],
      });
    }
    const pq = await tca(['import', ...parquetParts, ...mirror, '--json']);
    expect(pq.code, pq.stderr).toBe(0);
    expect(JSON.parse(pq.stdout)).toMatchObject({ rowsRead: 10, accepted: 10, removed: 0 });
    await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
    const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
    expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(10);

    // Parts that are not of one shape are refused before anything is sent.
    const other = join(t.dir, 'other.csv');
    await writeFile(other, 'profile_key,phone_e164,segment:cli-seg\ncli-e0,+14155550100,1\n');
    const mixed = await tca(['import', csvParts[0]!, other, ...mirror]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('do not share one header');
    const arrays = [join(t.dir, 'a.json'), join(t.dir, 'b.json')];
    for (const path of arrays) await writeFile(path, '[]');
    expect((await tca(['import', ...arrays, '--dataflow', dataflowId])).stderr).toContain(
      'export the parts as NDJSON',
    );
    const formats = await tca(['import', csvParts[0]!, parquetParts[0]!, '--dataflow', dataflowId]);
    expect(formats.code).toBe(2);
    expect(formats.stderr).toContain('different formats');
  });

  it('imports from signed URLs: parts at URLs, read again when a download breaks, never printing the signature', async () => {
    const objects = await startObjectServer();
    try {
      objects.put('/export/part-0.csv', {
        body: Buffer.from([CSV_HEADER, ...[0, 1, 2, 3, 4].map(csvRow)].join('\n') + '\n'),
      });
      objects.put('/export/part-1.csv.gz', {
        body: gzipSync([CSV_HEADER, ...[5, 6, 7, 8, 9].map(csvRow)].join('\n') + '\n'),
      });
      const urls = [objects.url('/export/part-0.csv'), objects.url('/export/part-1.csv.gz')];
      const mirror = mirrorArgs();
      for (const extra of [[], ['--local']]) {
        const r = await tca(['import', ...urls, ...mirror, ...extra, '--json']);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ rowsRead: 10, accepted: 10, removed: 0 });
        expect(r.stdout + r.stderr).not.toContain('signature=');
      }
      await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
      const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
      expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(10);
      // Signed again, the same objects are the same import: it is not read again.
      const resigned = urls.map((u) => u.replace('expires=3600', 'expires=60'));
      const again = await tca(['import', ...resigned, ...mirror]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('Imported before under the key');

      // A download that breaks midway: the upload attempt stops, and the next one reads the object again.
      const lines = Array.from({ length: 20_000 }, (_, i) =>
        JSON.stringify(profile(`url${i}@example.com`, { 'cli-url': 'realized' }, `url-e${i}`)),
      );
      const ndjson = Buffer.from(lines.join('\n') + '\n');
      objects.put('/export/big.ndjson', { body: ndjson, cutAfter: Math.floor(ndjson.length / 2) });
      const big = await tca([
        'import',
        objects.url('/export/big.ndjson'),
        '--dataflow',
        dataflowId,
        '--json',
      ]);
      expect(big.code, big.stderr).toBe(0);
      expect(big.stderr).toContain('The upload stopped');
      expect(big.stderr).not.toContain('signature=');
      expect(JSON.parse(big.stdout)).toMatchObject({ attempts: 2, rowsRead: 20_000, accepted: 20_000 });

      // What cannot be read is named without its signature, with what to do.
      const refused = await tca(['import', objects.url('/export/part-0.csv', 'sig-0bad'), ...mirror]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('sign a new one for reading (GET)');
      expect(refused.stderr).not.toContain('sig-0bad');
      const s3 = await tca(['import', 's3://exports/part-0.csv', ...mirror]);
      expect(s3.code).toBe(2);
      expect(s3.stderr).toContain('aws s3 presign');
    } finally {
      await objects.close();
    }
  });

  it('reaches signed URLs through the proxy HTTP_PROXY names, the service directly, and says why a proxy refuses', async () => {
    const objects = await startObjectServer();
    const proxy = await startConnectProxy({ credentials: 'egress:p@ss word', refuse: ['blocked.test'] });
    try {
      const lines = [0, 1, 2].map((i) =>
        JSON.stringify(profile(`proxied${i}@example.com`, { 'cli-proxied': 'realized' }, `proxied-e${i}`)),
      );
      objects.put('/export/proxied.ndjson', { body: Buffer.from(lines.join('\n') + '\n') });
      const direct = objects.url('/export/proxied.ndjson');
      const port = new URL(direct).port;
      // A host that exists nowhere: only the proxy, which tunnels every host to loopback, reaches it.
      const url = direct.replace('127.0.0.1', 'objects.test');
      const withCredentials = (credentials: string) => proxy.url.replace('http://', `http://${credentials}@`);
      const args = ['import', url, '--dataflow', dataflowId];

      const r = await tca([...args, '--json'], { HTTP_PROXY: withCredentials('egress:p%40ss%20word') });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ rowsRead: 3, accepted: 3 });
      // Every read of the object went through the proxy, with its credentials; the service (loopback) went direct.
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      for (const tunnel of proxy.tunnels)
        expect(tunnel).toEqual({
          target: `objects.test:${port}`,
          credentials: 'egress:p@ss word',
          status: 200,
        });

      // Wrong credentials: refused at once (not retried), with what to fix and without the password given.
      const denied = await tca(args, { HTTP_PROXY: withCredentials('egress:not-it') });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain(
        'the proxy refused to connect (HTTP 407 Proxy Authentication Required)',
      );
      expect(denied.stderr).toContain('give them in the proxy URL');
      expect(denied.stderr).not.toContain('not-it');
      const blocked = await tca(
        [...args.slice(0, 1), url.replace('objects.test', 'blocked.test'), ...args.slice(2)],
        {
          http_proxy: withCredentials('egress:p%40ss%20word'),
        },
      );
      expect(blocked.code).toBe(1);
      expect(blocked.stderr).toContain('(HTTP 403 Forbidden)');
      expect(blocked.stderr).toContain('NO_PROXY');

      // A proxy setting that cannot be used stops every command, naming it, without its password.
      const socks = await tca(['imports', 'list'], {
        HTTPS_PROXY: 'socks4://egress:hush@proxy.example.com:1080',
      });
      expect(socks.code).toBe(2);
      expect(socks.stderr).toContain('HTTPS_PROXY is a SOCKS4 proxy');
      expect(socks.stderr).not.toContain('hush');
    } finally {
      await proxy.close();
      await objects.close();
    }
  });

  it('imports standard input: a pipe from a cloud CLI, gzip or not, resumable under the key it names', async () => {
    const csv = [CSV_HEADER, ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(csvRow)].join('\n');
    const mirror = mirrorArgs();
    for (const [input, extra] of [
      [csv, []],
      [gzipSync(csv), ['--local']],
    ] as const) {
      const r = await tca(['import', '-', '--format', 'csv', ...mirror, ...extra, '--json'], {}, input);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ rowsRead: 10, accepted: 10, removed: 0 });
      expect(report.key).toMatch(/^stdin-/);
      expect(r.stderr).toContain(`--key ${report.key}`);
    }
    // Under a key, the same input again is the same import: replayed, not read again.
    const keyed = ['import', '-', '--format', 'csv', ...mirror, '--key', 'stdin-members'];
    expect((await tca(keyed, {}, csv)).code).toBe(0);
    const again = await tca(keyed, {}, csv);
    expect(again.stdout).toContain('Imported before under the key stdin-members');

    // Empty input removes nobody: a CSV without its header, and rows-less NDJSON in mirror mode, are refused (exit 1).
    for (const [format, extra, message] of [
      ['csv', [], 'is empty: a CSV file starts with its header row'],
      [
        'ndjson',
        [],
        'the upload has no rows: in mirror mode it would remove every member of segment cli-seg',
      ],
      ['ndjson', ['--local'], 'has no rows: in mirror mode it would remove every member of segment cli-seg'],
    ] as const) {
      const empty = await tca(['import', '-', '--format', format, ...mirror, ...extra], {}, '');
      expect(empty.code, empty.stderr).toBe(1);
      expect(empty.stderr).toContain(message);
      expect(empty.stdout).not.toContain('Removed');
    }
    await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
    const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
    expect(t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length).toBe(10);

    const unnamed = await tca(['import', '-', ...mirror], {}, csv);
    expect(unnamed.code).toBe(2);
    expect(unnamed.stderr).toContain('--format');
    const parquet = await tca(['import', '-', '--format', 'parquet', ...mirror], {}, 'PAR1');
    expect(parquet.code).toBe(2);
    expect(parquet.stderr).toContain('cannot come from standard input');
  });

  it('activates an audience now, once per 24 hours', async () => {
    const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
    const first = await tca(['activate-now', a.id, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ audienceId: a.id, queued: 10 });
    const again = await tca(['activate-now', a.id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr + again.stdout).toContain('once per 24 hours');
  });

  it('sets data-usage labels, and refuses ones that forbid what an activated segment is used for', async () => {
    const d = await t.call('PATCH', `/api/v1/destinations/${destinationId}`, {
      token: t.adminToken,
      body: { marketingActions: ['Cross Site Targeting'] },
    });
    expect(d.status).toBe(200);
    const ok = await tca(['segments', 'labels', 'cli-seg', 'c9,I1', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).labels).toEqual(['C9', 'I1']);
    const refused = await tca(['segments', 'labels', 'cli-seg', 'C5']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain('Cross Site Targeting');
  });

  it('shows the profile keys, changed once the sandbox holds profiles only by re-keying it', async () => {
    const shown = await tca(['sandboxes', 'profile-keys', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({
      namespaces: ['ECID', 'CRMID'],
      isDefault: true,
      fixed: true,
      mergesAcrossNamespaces: false,
      rekey: null,
    });
    const refused = await tca(['sandboxes', 'profile-keys', '--set', 'CustomerID,ECID']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Add --rekey to re-key');
    const rekeyed = await tca(['sandboxes', 'profile-keys', '--set', 'CRMID,ECID', '--rekey']);
    expect(rekeyed.code, rekeyed.stderr).toBe(0);
    expect(rekeyed.stdout).toMatch(/Re-keying from ECID, CRMID since \S+: \d+ profiles not met/);
    expect(rekeyed.stdout).toContain(
      'Some are keyed by a later namespace: an export naming ids of several speaks for',
    );
    expect((await tca(['sandboxes', 'profile-keys', '--finish-rekey'])).code).toBe(2);
    expect((await tca(['sandboxes', 'profile-keys', '--keep-remaining'])).code).toBe(2);
    const kept = await tca(['sandboxes', 'profile-keys', '--finish-rekey', '--keep-remaining', '--json']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({ removedProfiles: 0, settings: { rekey: null } });
    // Back to the default for the tests after this one, the same way.
    expect((await tca(['sandboxes', 'profile-keys', '--default', '--rekey'])).code).toBe(0);
    const ended = await tca(['sandboxes', 'profile-keys', '--finish-rekey', '--keep-remaining']);
    expect(ended.stdout).toContain('Re-keying ended. 0 profiles');
  });

  it('labels mapped fields, lists and removes them, refusing bad labels with their problems', async () => {
    const set = await tca(['field-labels', 'set', 'attribute', 'loyalty.score', 'my-score,c9', '--json']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual([
      { sourceType: 'attribute', source: 'loyalty.score', labels: ['MY-SCORE', 'C9'] },
    ]);
    // Setting a field again replaces its labels.
    await tca(['field-labels', 'set', 'attribute', 'loyalty.score', 'C9']);
    const listed = await tca(['field-labels', 'list']);
    expect(listed.stdout).toMatch(/attribute\s+loyalty\.score\s+C9/);
    const bad = await tca(['field-labels', 'set', 'attribute', 'other.path', 'C 9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('fields[1].labels[0]');
    expect((await tca(['field-labels', 'set', 'column', 'x', 'C9'])).code).toBe(2);
    expect((await tca(['field-labels', 'remove', 'namespace', 'Email'])).code).toBe(4);
    expect((await tca(['field-labels', 'remove', 'attribute', 'loyalty.score'])).code).toBe(0);
    expect(JSON.parse((await tca(['field-labels', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('adds, switches off and removes consent policies, refusing bad ones with their problems', async () => {
    const added = await tca([
      'consent',
      'add',
      'Ads need sharing consent',
      '--actions',
      'Cross Site Targeting',
      '--attribute',
      'consents.share.val',
      '--allow',
      'y,dy',
      '--or',
      'consents.marketing.any.val=y,LI',
      '--or',
      'consents.adID.val',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const [policy] = JSON.parse(added.stdout) as Array<{
      id: string;
      allowedValues: string[];
      enabled: boolean;
    }>;
    expect(policy).toMatchObject({
      allowedValues: ['y', 'dy'],
      alternatives: [
        { attribute: 'consents.marketing.any.val', allowedValues: ['y', 'LI'] },
        { attribute: 'consents.adID.val', allowedValues: ['y'] },
      ],
      enabled: true,
    });
    const listed = await tca(['consent', 'list']);
    expect(listed.stdout).toContain('consents.marketing.any.val=y,LI | consents.adID.val=y');
    const off = await tca(['consent', 'disable', policy!.id, '--json']);
    expect(JSON.parse(off.stdout)[0].enabled).toBe(false);
    // A policy on data-usage labels, alone or joined to marketing actions.
    const onLabels = await tca([
      'consent',
      'add',
      'Health data',
      '--labels',
      'c9,health',
      '--actions',
      'Email Targeting',
      '--operator',
      'or',
      '--attribute',
      'consents.share.val',
      '--json',
    ]);
    expect(onLabels.code, onLabels.stderr).toBe(0);
    expect(JSON.parse(onLabels.stdout)[1]).toMatchObject({
      marketingActions: ['Email Targeting'],
      labels: ['C9', 'HEALTH'],
      operator: 'or',
    });
    expect((await tca(['consent', 'list'])).stdout).toContain('C9,HEALTH (or)');
    // The preview: every policy on its own over the known profiles, or those that apply to an activation.
    const preview = await tca(['consent', 'preview']);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('all known profiles');
    expect(preview.stdout).toContain('Health data: ');
    expect(preview.stdout).toContain('Ads need sharing consent (switched off: would leave out): ');
    const asJson = JSON.parse((await tca(['consent', 'preview', '--json'])).stdout) as {
      policies: Array<{ name: string }>;
      all: { profiles: number; consenting: number };
    };
    expect(asJson.policies.map((p) => p.name)).toEqual(['Ads need sharing consent', 'Health data']);
    expect(asJson.all.consenting).toBeLessThanOrEqual(asJson.all.profiles);
    expect((await tca(['consent', 'preview', '--destination', 'dst_nope'])).code).toBe(4);
    const badFields = await tca(['consent', 'preview', '--destination', destinationId, '--fields', 'Email']);
    expect(badFields.code).toBe(1);
    expect(badFields.stderr).toContain('query.fields');
    const neither = await tca(['consent', 'add', 'Neither', '--attribute', 'consents.share.val']);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('policies[2].marketingActions');
    expect((await tca(['consent', 'remove', JSON.parse(onLabels.stdout)[1].id])).code).toBe(0);
    const bad = await tca([
      'consent',
      'add',
      'Bad',
      '--actions',
      'Analytics',
      '--attribute',
      'consents.nope',
      '--or',
      'consents.share.val=maybe',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('policies[1].attribute');
    expect(bad.stderr).toContain('policies[1].alternatives[0].allowedValues[0]');
    expect((await tca(['consent', 'remove', 'cp_unknown'])).code).toBe(4);
    expect((await tca(['consent', 'remove', policy!.id])).code).toBe(0);
    expect(JSON.parse((await tca(['consent', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('erases profiles for a privacy request, reporting identities it cannot use', async () => {
    const erased = await tca([
      'erase',
      'ECID=nobody-here',
      'Loyalty=L-1',
      'Email=someone@example.com',
      '--json',
    ]);
    // An identity it could not use is a request not carried out: exit 1, the answer printed all the same.
    expect(erased.code, erased.stderr).toBe(1);
    expect(JSON.parse(erased.stdout)).toEqual({
      profiles: 0,
      audiences: 0,
      notFound: 2,
      skipped: [{ index: 1, reason: expect.stringContaining('nor an identity namespace its mappings read') }],
    });
    const text = await tca(['erase', 'ECID=nobody-here', 'Loyalty=L-1']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('Erased 0 profile(s)');
    expect(text.stdout).toContain('skipped Loyalty=L-1');
    // Nobody found is an answer, not a failure.
    const unknown = await tca(['erase', 'ECID=nobody-here']);
    expect(unknown.code, unknown.stderr).toBe(0);
    expect(unknown.stdout).toContain('1 identity matched no profile');
    const bad = await tca(['erase', 'ECID']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not NAMESPACE=ID');
  });

  it('lists the data-usage policies and adds, switches off and removes one of the sandbox', async () => {
    const added = await tca([
      'policies',
      'add',
      'Scores stay in',
      '--action',
      'Data Science',
      '--labels',
      'my-score',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const policies = JSON.parse(added.stdout) as {
      core: unknown[];
      custom: Array<{ id: string; labels: string[] }>;
    };
    expect(policies.core).toHaveLength(10);
    expect(policies.custom).toEqual([expect.objectContaining({ labels: ['MY-SCORE'], enabled: true })]);
    const id = policies.custom[0]!.id;
    const off = await tca(['policies', 'disable', id, '--json']);
    expect(JSON.parse(off.stdout).custom[0].enabled).toBe(false);
    const bad = await tca(['policies', 'add', 'Bad', '--action', 'Analytics', '--labels', 'C 9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('policies[1].labels[0]');
    const listed = await tca(['policies', 'list']);
    expect(listed.stdout).toContain('every activation to X');
    expect((await tca(['policies', 'remove', id])).code).toBe(0);
    expect(JSON.parse((await tca(['policies', 'list', '--json'])).stdout).custom).toEqual([]);
  });

  it('reads its token from the file TCA_TOKEN_FILE names, as a mounted secret', async () => {
    const file = join(t.dir, 'mounted-token');
    await writeFile(file, `${t.adminToken}\n`, { mode: 0o600 });
    const r = await tca(['segments', 'list', '--json'], { TCA_TOKEN: '', TCA_TOKEN_FILE: file });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).length).toBeGreaterThan(0);
    const missing = await tca(['segments', 'list'], { TCA_TOKEN: '', TCA_TOKEN_FILE: join(t.dir, 'nope') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `TCA_TOKEN_FILE names ${join(t.dir, 'nope')}, which cannot be read (ENOENT)`,
    );
  });

  it('checks the installation with doctor, changing nothing, and names what fails with what to do', async () => {
    const env = { TCA_X_API_BASE_URL: t.emulatorUrl };
    const r = await tca(['doctor', '--json'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      ['config', 'pass'],
      ['store', 'pass'],
      ['egress', 'pass'],
      ['x_api', 'pass'],
      ['destinations', 'pass'],
      // The alert the alerts listing above left firing: a warning, which does not fail the check.
      ['alerts', 'warn'],
      ['service', 'pass'],
    ]);
    expect(report.checks[5]).toMatchObject({
      message: '1 alert firing (dataflow_paused: 1)',
      hint: expect.stringContaining('tca alerts --firing'),
    });
    // A notification its webhook refused, waiting for its next attempt.
    await t.service.store.db
      .insertInto('alert_outbox')
      .values({
        id: 'ntf_doctor',
        type: 'dataflow_paused',
        url: 'http://127.0.0.1:9/hook',
        body: '{}',
        created_at: Date.now(),
        attempts: 2,
        next_attempt_at: Date.now() + 60_000,
        last_error: 'HTTP 503',
      })
      .execute();
    const waiting = JSON.parse((await tca(['doctor', '--json'], env)).stdout).checks[5];
    await t.service.store.db.deleteFrom('alert_outbox').where('id', '=', 'ntf_doctor').execute();
    expect(waiting.message).toContain(
      '1 notification not accepted yet (http://127.0.0.1:9: HTTP 503, 2 attempts)',
    );
    expect(waiting.hint).toContain('tca destinations test-alert');
    // Recipients a destination kept from when the service emailed: nobody emails them now.
    await t.service.store.db
      .updateTable('destinations')
      .set({ alert_email_to: '["crm-owner@example.com"]' })
      .where('id', '=', destinationId)
      .execute();
    const unmailed = JSON.parse((await tca(['doctor', '--json'], env)).stdout).checks[5];
    await t.service.store.db
      .updateTable('destinations')
      .set({ alert_email_to: '[]' })
      .where('id', '=', destinationId)
      .execute();
    expect(unmailed.message).toContain(
      `1 destination names alert email recipients (${destinationId}), but this service sends no email`,
    );
    expect(unmailed.hint).toContain('--alert-email none');
    // Alert emails: the SMTP server is asked for a login; one that refuses it is named, with what to check.
    const smtp = await startSmtpReceiver();
    try {
      const mail = { TCA_ALERT_EMAIL_TO: 'oncall@example.com', TCA_ALERT_EMAIL_FROM: 'tca@example.com' };
      const loggedIn = JSON.parse(
        (await tca(['doctor', '--json'], { ...env, ...mail, TCA_SMTP_URL: smtp.url })).stdout,
      ).checks[5];
      expect(loggedIn.message).toBe('1 alert firing (dataflow_paused: 1)');
      const wrongLogin = JSON.parse(
        (
          await tca(['doctor', '--json'], {
            ...env,
            ...mail,
            TCA_SMTP_URL: smtp.url.replace(':secret@', ':wrong@'),
          })
        ).stdout,
      ).checks[5];
      expect(wrongLogin.message).toContain('alert emails cannot be sent (SMTP smtp://127.0.0.1:');
      expect(wrongLogin.message).not.toContain('wrong');
      expect(wrongLogin.hint).toContain('TCA_SMTP_URL');
      expect(smtp.received).toEqual([]);
    } finally {
      await smtp.close();
    }
    expect(report.checks[4].message).toMatch(/^(\d+) of \1 verify$/);
    expect(report.checks[1].message).toMatch(/\d+ destination credentials? readable$/);
    expect(report.checks[3].message).toMatch(/answered HTTP 401 in \d+ ms; the clock agrees with X's/);

    // X refusing a destination's credentials (as after a revoked token) fails its preflight, naming it.
    t.emulator.admin.addFaults({
      faults: [{ method: 'GET', path: '/accounts/[^/]+$', status: 401, times: 50 }],
    });
    try {
      const refused = await tca(['doctor', '--json'], env);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout).checks[4]).toMatchObject({
        id: 'destinations',
        status: 'fail',
        message: expect.stringContaining(`${destinationId} (`),
        hint: expect.stringContaining('tca destinations verify'),
      });
    } finally {
      t.emulator.admin.clearFaults();
    }

    // An app X keeps off the Audience API (the account reads work, custom audiences get 403): its preflight fails too.
    const app = {
      consumer_key: DEMO.credentials.consumerKey,
      consumer_secret: DEMO.credentials.consumerSecret,
    };
    t.emulator.admin.seed({ apps: [{ ...app, audience_access: false }] });
    try {
      const offAudiences = await tca(['doctor', '--json'], env);
      expect(offAudiences.code).toBe(1);
      expect(JSON.parse(offAudiences.stdout).checks[4]).toMatchObject({
        id: 'destinations',
        status: 'fail',
        message: expect.stringContaining('403 UNAUTHORIZED_CLIENT_APPLICATION'),
      });
    } finally {
      t.emulator.admin.seed({ apps: [app] });
    }

    const wrongKey = await tca(['doctor'], { ...env, TCA_SECRET_KEY: 'ab'.repeat(32) });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toContain(
      'FAIL  The store opens with the configured key: The database was written with',
    );
    expect(wrongKey.stdout).toContain('TCA_SECRET_KEY_PREVIOUS');
    // What to do is said once, as the check's hint, not again at the end of its message.
    const wrongKeyJson = JSON.parse(
      (await tca(['doctor', '--json'], { ...env, TCA_SECRET_KEY: 'ab'.repeat(32) })).stdout,
    ) as { checks: Array<{ status: string; message: string; hint?: string }> };
    const failed = wrongKeyJson.checks.find((c) => c.status === 'fail')!;
    expect(failed.hint).toMatch(/./);
    expect(failed.message).not.toContain(failed.hint!);
    // A loopback port nothing listens on.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const unreachable = await tca(['doctor', '--json'], {
      TCA_X_API_BASE_URL: `http://127.0.0.1:${closedPort}`,
    });
    expect(unreachable.code).toBe(1);
    // A destination on an API base URL of its own (the emulator) is still verified there.
    expect(JSON.parse(unreachable.stdout).checks[4]).toMatchObject({
      id: 'destinations',
      status: 'pass',
      message: expect.stringMatching(/^1 of 1 verify$/),
    });
    // On the unreachable one, it is not tried again.
    await t.service.store.db
      .updateTable('destinations')
      .set({ api_base_url: null })
      .where('id', '=', destinationId)
      .execute();
    try {
      const offX = await tca(['doctor', '--json'], { TCA_X_API_BASE_URL: `http://127.0.0.1:${closedPort}` });
      expect(JSON.parse(offX.stdout).checks[4]).toMatchObject({
        id: 'destinations',
        status: 'skipped',
        message: `Needs http://127.0.0.1:${closedPort} reachable`,
      });
    } finally {
      await t.service.store.db
        .updateTable('destinations')
        .set({ api_base_url: t.emulatorUrl })
        .where('id', '=', destinationId)
        .execute();
    }
    expect(JSON.parse(unreachable.stdout).checks[3]).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('ECONNREFUSED'),
      hint: expect.stringContaining('HTTPS_PROXY'),
    });
    // Every destination here is on the emulator (loopback): the hint points at the demo's check too.
    expect(JSON.parse(unreachable.stdout).checks[3].hint).toContain('run `tca doctor --demo`');
    // A demo installation: its built-in emulator stands for X; and with no emulator running, a warning that says how
    // to start one, the destinations on it not tried again.
    // The emulator is where the destinations say it served last, whatever port this process's configuration names.
    const demo = await tca(['doctor', '--demo', '--json'], { TCA_EMULATOR_PORT: String(closedPort) });
    expect(JSON.parse(demo.stdout).checks[3]).toMatchObject({
      id: 'x_api',
      status: 'pass',
      message: expect.stringContaining(`${t.emulatorUrl} (the demo's built-in X emulator) answered HTTP 401`),
    });
    const stored = await t.service.store.db
      .selectFrom('destinations')
      .select(['id', 'api_base_url'])
      .execute();
    await t.service.store.db
      .updateTable('destinations')
      .set({ api_base_url: `http://127.0.0.1:${closedPort}` })
      .execute();
    try {
      const noDemo = await tca(['doctor', '--demo', '--json']);
      expect(JSON.parse(noDemo.stdout).checks[3]).toMatchObject({
        status: 'warn',
        message: expect.stringContaining(
          `http://127.0.0.1:${closedPort} (the demo's built-in X emulator) could not`,
        ),
        hint: expect.stringContaining('tca start --demo'),
      });
    } finally {
      for (const { id, api_base_url } of stored)
        await t.service.store.db
          .updateTable('destinations')
          .set({ api_base_url })
          .where('id', '=', id)
          .execute();
    }
    const badConfig = await tca(['doctor'], { TCA_PORT: 'eighty' });
    expect(badConfig.code).toBe(1);
    expect(badConfig.stdout).toContain('FAIL  Configuration is valid: TCA_PORT: must be a whole number');
  });

  it('manages tokens', async () => {
    const c = await tca([
      'tokens',
      'create',
      '--name',
      'ingest-only',
      '--permission',
      'Ingest Profiles',
      '--json',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const tok = JSON.parse(c.stdout);
    expect(tok.token).toMatch(/^tca_/);
    const denied = await tca(['destinations', 'list'], { TCA_TOKEN: tok.token });
    expect(denied.code).toBe(3);
    expect((await tca(['tokens', 'revoke', tok.id])).code).toBe(0);
    const list = JSON.parse((await tca(['tokens', 'list', '--json'])).stdout);
    expect(list.find((x: { id: string }) => x.id === tok.id).revokedAt).not.toBeNull();
  });

  it('prints the audit trail, newest first, of one object or of the sandbox', async () => {
    const c = await tca(['tokens', 'create', '--name', 'audited', '--permission', 'View Segments', '--json']);
    const tok = JSON.parse(c.stdout) as { id: string };
    expect((await tca(['tokens', 'revoke', tok.id])).code).toBe(0);
    const about = await tca(['audit', '--target', tok.id, '--json']);
    expect(about.code, about.stderr).toBe(0);
    expect(
      (JSON.parse(about.stdout) as Array<{ method: string; status: number }>).map(
        (e) => `${e.method} ${e.status}`,
      ),
    ).toEqual(['DELETE 204', 'POST 201']);
    const text = await tca(['audit', '--limit', '3']);
    expect(text.stdout.split('\n')[0]).toMatch(/^AT +TOKEN +REQUEST +TARGET +STATUS +FIELDS$/);
    expect(text.stdout).toContain('DELETE /api/v1/tokens/:id');
    // Every event this file's tests made; a limit takes the newest.
    const all = JSON.parse((await tca(['audit', '--limit', '10000', '--json'])).stdout) as unknown[];
    const some = JSON.parse((await tca(['audit', '--limit', '2', '--json'])).stdout) as unknown[];
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(some).toEqual(all.slice(0, 2));
    expect((await tca(['audit', '--limit', '0'])).code).toBe(2);

    // Every sandbox's events, for the admin, name their sandbox.
    const everywhere = await tca(['audit', '--all-sandboxes', '--limit', '3']);
    expect(everywhere.stdout.split('\n')[0]).toMatch(/^AT +SANDBOX +TOKEN +REQUEST/);

    // The feed for a SIEM: NDJSON oldest first, each event once across runs that keep their place in a file.
    const cursorFile = join(t.dir, 'audit.cursor');
    const fed: Array<{ id: string; at: string; method: string; target: string | null }> = [];
    await waitFor(
      async () => {
        const run = await tca(['audit', '--feed', '--cursor-file', cursorFile]);
        expect(run.code, run.stderr).toBe(0);
        for (const line of run.stdout.split('\n').filter((l) => l !== '')) fed.push(JSON.parse(line));
        return fed.some((e) => e.method === 'DELETE' && e.target === tok.id) ? true : undefined;
      },
      20_000,
      'the revocation in the feed',
    );
    expect(new Set(fed.map((e) => e.id)).size).toBe(fed.length);
    expect(fed.map((e) => e.at)).toEqual([...fed.map((e) => e.at)].sort());
    expect(fed.map((e) => e.id)).toEqual(
      (all as Array<{ id: string }>)
        .map((e) => e.id)
        .filter((id) => fed.some((f) => f.id === id))
        .reverse(),
    );
    expect((await readFile(cursorFile, 'utf8')).trim()).not.toBe('');

    // --follow keeps polling from there: a change made while it runs arrives, and a signal ends it cleanly.
    const follower = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'tca.js'), 'audit', '--follow', '--interval', '1', '--cursor-file', cursorFile],
      {
        env: { ...process.env, TCA_URL: t.service.url, TCA_TOKEN: t.adminToken, TCA_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let followed = '';
    follower.stdout.on('data', (c: Buffer) => (followed += c.toString()));
    const exited = new Promise<number | null>((r) => follower.on('exit', (code) => r(code)));
    const later = await tca(['segments', 'create', '--id', 'seg-followed', '--name', 'Followed', '--json']);
    expect(later.code, later.stderr).toBe(0);
    await waitFor(
      async () => (followed.includes('"target":"seg-followed"') ? true : undefined),
      20_000,
      'follow',
    );
    follower.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = followed.split('\n').filter((l) => l !== '');
    expect(lines.map((l) => (JSON.parse(l) as { target: string | null }).target)).toEqual(['seg-followed']);
  });

  it('imports the rows of a warehouse query; in mirror mode the audience follows the query', async () => {
    const sourceUrl = process.env.TCA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const table = `tca_cli_source_${process.pid}`;
    const source = new pg.Client({ connectionString: sourceUrl });
    await source.connect();
    try {
      await source.query(`drop table if exists ${table}`);
      await source.query(`create table ${table} (crm_id text, email text, vip boolean)`);
      // A key with a comma and a quote (the CSV quoting must hold), and a row without an email.
      await source.query(
        `insert into ${table} select 'sql,"' || i, 'sql' || i || '@example.com', true from generate_series(1, 12) i`,
      );
      await source.query(`insert into ${table} values ('sql-none', null, true)`);
      const query = `select crm_id as profile_key, email, vip as "segment:cli-seg" from ${table} order by crm_id`;
      const run = () =>
        tca(
          [
            'import-sql',
            '--dataflow',
            dataflowId,
            '--query',
            query,
            '--mode',
            'mirror',
            '--segment',
            'cli-seg',
            '--fetch',
            '5',
            '--json',
          ],
          { TCA_SOURCE_DATABASE_URL: sourceUrl },
        );
      const first = await run();
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({
        format: 'csv',
        mode: 'mirror',
        rowsRead: 13,
        accepted: 13,
        excluded: { no_mappable_identifier: 1 },
      });
      const atX = async () => {
        await t.call('POST', `/api/v1/dataflows/${dataflowId}/flush`, { token: t.adminToken });
        const [a] = JSON.parse((await tca(['audiences', '--dataflow', dataflowId, '--json'])).stdout);
        return t.emulator.admin.members(DEMO.accountId, a.xAudienceId).length;
      };
      expect(await atX()).toBe(12);

      // Rows leave the query: the next run removes them at X.
      await source.query(`delete from ${table} where crm_id in ('sql,"1', 'sql,"2', 'sql,"3')`);
      const second = await run();
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ rowsRead: 10, removed: 3 });
      expect(await atX()).toBe(9);

      // A query that fails midway imports nothing after it and, in mirror mode, removes nobody.
      const failing = await tca(
        [
          'import-sql',
          '--dataflow',
          dataflowId,
          '--query',
          `select crm_id as profile_key, 1 / (length(crm_id) - 6) as x from ${table}`,
          '--mode',
          'mirror',
          '--segment',
          'cli-seg',
        ],
        { TCA_SOURCE_DATABASE_URL: sourceUrl },
      );
      expect(failing.code).toBe(1);
      expect(failing.stderr + failing.stdout).toContain('The query failed: division by zero');
      expect(await atX()).toBe(9);
      // Only a query: a statement that writes is refused before anything runs.
      const writing = await tca(['import-sql', '--dataflow', dataflowId, '--query', `delete from ${table}`], {
        TCA_SOURCE_DATABASE_URL: sourceUrl,
      });
      expect(writing.code).toBe(1);
      expect(Number((await source.query(`select count(*) as n from ${table}`)).rows[0].n)).toBe(10);
    } finally {
      await source.query(`drop table if exists ${table}`);
      await source.end();
    }
  });

  it('resumes an upload by itself when the connection drops midway: the rows written are not sent twice', async () => {
    const file = join(t.dir, 'big.ndjson');
    const lines = Array.from({ length: 25_000 }, (_, i) =>
      JSON.stringify(profile(`big${i}@example.com`, { 'cli-resume': 'realized' }, `big-e${i}`)),
    );
    await writeFile(file, lines.join('\n') + '\n');
    // A proxy that cuts the first import upload after 3 MB (the service writes its first 20,000 rows by then).
    const target = new URL(t.service.url);
    let cut = false;
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      let importBytes = -1;
      client.on('data', (chunk: Buffer) => {
        if (importBytes < 0 && chunk.includes('POST /api/v1/imports')) importBytes = 0;
        if (importBytes >= 0 && !cut && (importBytes += chunk.length) > 3_000_000) {
          cut = true;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as AddressInfo).port;
      const r = await tca(['import', file, '--dataflow', dataflowId, '--key', 'big-1', '--json'], {
        TCA_URL: `http://127.0.0.1:${port}`,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(cut).toBe(true);
      expect(r.stderr).toContain('The upload stopped');
      expect(JSON.parse(r.stdout)).toMatchObject({
        key: 'big-1',
        attempts: 2,
        rowsRead: 25_000,
        accepted: 25_000,
      });
      const shown = await tca(['imports', 'show', 'big-1', '--json']);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        status: 'complete',
        attempts: 2,
        rowsCommitted: 25_000,
      });
    } finally {
      proxy.close();
    }
  });

  it('uses meaningful exit codes: 4 not found, 3 unreachable, 2 usage', async () => {
    expect((await tca(['dataflows', 'show', 'df_missing'])).code).toBe(4);
    expect((await tca(['destinations', 'list'], { TCA_URL: 'http://127.0.0.1:9' })).code).toBe(3);
    expect((await tca(['dataflows', 'create'])).code).toBe(2);
    const percent = await tca(['import', 'x.csv', '--dataflow', 'df_x', '--max-rejected', '150']);
    expect(percent.code).toBe(2);
    expect(percent.stderr).toContain('a percentage from 0 to 100');
    expect((await tca(['tokens', 'create', '--name', 'x', '--permission', 'Fly'])).code).toBe(2);
    // A replay names what to replay: a usage error that names the options, not the API's field names.
    const bare = await tca(['dead-letters', 'replay']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('--id');
    expect(bare.stderr).toContain('--dataflow');
    expect(bare.stderr).not.toContain('ids:');
  });

  it('says when an audience a flush left undelivered is tried again, each sentence ending once', async () => {
    // A dataflow of its own, removed at the end, so the others keep their counts.
    const token = t.adminToken;
    await t.call('POST', '/api/v1/segments', { token, body: { id: 'cli-retry', name: 'CLI retry' } });
    const dst = await t.call('POST', '/api/v1/destinations', {
      token,
      body: { name: 'CLI retry', accountId: DEMO.accountId, credentials: DEMO.credentials },
    });
    const flow = await t.call('POST', '/api/v1/dataflows', {
      token,
      body: {
        name: 'CLI retry',
        destinationId: dst.body.id,
        mapping: [{ sourceType: 'namespace', source: 'Email', target: 'email', applyTransformation: true }],
        audiences: [{ segmentId: 'cli-retry', mappingName: 'CLI retry' }],
      },
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    const id = flow.body.id as string;
    await t.call('POST', '/api/v1/ingest/profiles', {
      token,
      body: profile('retry1@example.com', { 'cli-retry': 'realized' }),
    });
    t.emulator.admin.addFaults({ faults: [{ method: 'POST', path: '/users$', status: 503 }] });
    const retrying = await tca(['dataflows', 'flush', id]);
    expect(retrying.code, retrying.stderr).toBe(1);
    expect(retrying.stdout).toMatch(
      /Audience \S+ will be retried at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \((now|in \d+ s)\): X Ads API returned HTTP 503/,
    );
    expect(retrying.stdout).not.toContain('..');
    const json = JSON.parse((await tca(['dataflows', 'flush', id, '--json'])).stdout);
    expect(json).toMatchObject({ status: 'delivered' });
    expect((await t.call('DELETE', `/api/v1/dataflows/${id}`, { token })).status).toBe(204);
    expect((await t.call('DELETE', `/api/v1/destinations/${dst.body.id}`, { token })).status).toBe(204);
  });

  it('has --help with examples on every command', async () => {
    for (const cmd of [['start'], ['import'], ['tokens', 'create']]) {
      const r = await tca([...cmd, '--help']);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout, cmd.join(' ')).toContain('Examples:');
    }
  });
});
