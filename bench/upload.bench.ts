// File upload throughput: a CSV file streamed to POST /api/v1/imports of a real `tca start` child process on loopback
// (SQLite in a temp dir; the dataflow is paused, so this measures import, not delivery), against a parse+hash floor
// (read the same file, parse each row, map and hash its identifiers) measured in the same run. The same file is then
// uploaded again: every row is already known, so that run measures the path that only confirms nothing changed.
// `UPLOAD_BENCH_ROWS` sets the size (default 300,000).
//
// Run: node bin/run-ts.js bench/upload.bench.ts
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adminApi,
  csvParseHashFloor,
  EMAIL_PHONE_MAPPING,
  freePort,
  pausedDataflowOverApi,
  startApiService,
  uploadCsv,
  waitReady,
} from './fixture.ts';

const ROWS = Number(process.env['UPLOAD_BENCH_ROWS'] ?? 300_000);
const SEGMENT = 'seg-upload';
const MAPPING = EMAIL_PHONE_MAPPING;

async function generate(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write(`profile_key,email,phone_e164,segment:${SEGMENT}\n`);
  for (let i = 0; i < ROWS; i += 1) {
    const phone = i % 3 === 0 ? `+1415${String(i % 10_000_000).padStart(7, '0')}` : '';
    if (!out.write(`crm-${i},Person.${i}@Example.com,${phone},${i % 10 === 0 ? 'exited' : '1'}\n`))
      await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const dir = await mkdtemp(join(tmpdir(), 'tca-bench-upload-'));
const file = join(dir, 'members.csv');
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const child = startApiService(join(dir, 'data'), port);

try {
  await generate(file);
  const size = (await stat(file)).size;
  await waitReady(url, Date.now() + 120_000);
  const { token, api } = await adminApi(url, join(dir, 'data'));
  await pausedDataflowOverApi(api, 'Bench upload flow', [SEGMENT], MAPPING);

  const measured = await csvParseHashFloor(file, MAPPING);
  if (measured.rows !== ROWS) throw new Error(`the floor parsed ${measured.rows} of ${ROWS} rows`);
  const floorRate = measured.rowsPerSecond;
  const upload = async () => {
    const start = performance.now();
    const { status, report } = await uploadCsv(url, token, file);
    if (status !== 200 || report.accepted !== ROWS) throw new Error(`upload: ${JSON.stringify(report)}`);
    return ROWS / ((performance.now() - start) / 1000);
  };
  const first = await upload();
  const again = await upload();
  const mb = (size / 1024 / 1024).toFixed(1);
  console.log(`${ROWS.toLocaleString('en-US')} CSV rows (${mb} MiB), streamed in one request, chunked`);
  console.log(`parse+hash floor: ${Math.round(floorRate).toLocaleString('en-US')} rows/s`);
  console.log(
    `upload, new rows: ${Math.round(first).toLocaleString('en-US')} rows/s (floor / upload ${(floorRate / first).toFixed(2)}x)`,
  );
  console.log(
    `upload, same rows again: ${Math.round(again).toLocaleString('en-US')} rows/s (floor / upload ${(floorRate / again).toFixed(2)}x)`,
  );
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  await rm(dir, { recursive: true, force: true });
}
