import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ImportReport } from '../../src/engine/index.ts';
import { BACKENDS } from '../store/backends.ts';
import {
  identifiersAtX,
  EMAIL_MAPPING as MAPPING,
  activateSegment,
  emailHash,
  makeClock,
  seededRandom,
  setup,
  type Harness,
} from './harness.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const KILLS = 6;

/** Runs the import child to its end, or SIGKILLs it `delayMs` after its `batches`-th committed batch of this run. */
function runChild(
  env: Record<string, string>,
  kill: { batches: number; delayMs: number } | null,
): Promise<{ report: ImportReport | null; killed: boolean; batches: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'run-ts.js'), join(ROOT, 'test', 'engine', 'import-crash-child.ts')],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (kill !== null && timer === null && (out.match(/^BATCH \d+$/gm)?.length ?? 0) >= kill.batches)
        timer = setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      const line = /^REPORT (.*)$/m.exec(out);
      if (!line && signal === null)
        reject(new Error(`the import child exited with ${code}: ${err.slice(-2000)}`));
      else
        resolve({
          report: line ? (JSON.parse(line[1]!) as ImportReport) : null,
          killed: signal === 'SIGKILL',
          batches: out.match(/^BATCH \d+$/gm)?.length ?? 0,
        });
    });
  });
}

const profile = (i: number) => ({
  segmentMembership: { ups: { seg: { status: 'realized' } } },
  identityMap: { ECID: [{ id: `e${i}` }], Email: [{ id: `u${i}@x.com` }] },
});
const emails = (ids: Iterable<number>) => new Set([...ids].map((i) => `email:${emailHash(`u${i}@x.com`)}`));

for (const backend of BACKENDS) {
  describe(`import crash safety (${backend.name})`, () => {
    let h: Harness | undefined;

    it('a mirror import killed at many points and resumed each time ends exactly as one uninterrupted run', async () => {
      h = await setup(backend, { clock: makeClock(Date.now()) });
      const { audience } = await activateSegment(h, {
        mapping: MAPPING,
        segmentId: 'seg',
        mappingName: 'Nightly members',
      });
      // Members 0–599 before: the mirror file holds 300–1199, so 0–299 must leave, once, when the file is read.
      const dir = h.testStore.dataDir;
      const before = join(dir, 'before.ndjson');
      writeFileSync(
        before,
        Array.from({ length: 600 }, (_, i) => `${JSON.stringify(profile(i))}\n`).join(''),
      );
      await h.engine.importFile(before, { sandboxId: 'prod', threads: 0 });
      await h.engine.flush();

      const random = seededRandom(backend.name === 'sqlite' ? 21 : 22);
      const ids = Array.from({ length: 900 }, (_, i) => 300 + i).sort(() => random() - 0.5);
      const lines = ids.map((i) => JSON.stringify(profile(i)));
      // Bad rows throughout (their profiles are not in the file, so they leave), and some profiles twice.
      const bad = new Set<number>();
      for (let k = 0; k < 12; k += 1) {
        const at = Math.floor(random() * lines.length);
        bad.add(ids[at]!);
        lines[at] = k % 2 === 0 ? '{not json' : JSON.stringify({ segmentMembership: 'nope' });
      }
      const again = new Set(ids.slice(0, 60));
      for (const i of again) lines.push(JSON.stringify(profile(i)));
      const file = join(dir, 'mirror.ndjson');
      writeFileSync(file, `${lines.join('\n')}\n`);
      const badLines = lines.flatMap((l, i) => (l.startsWith('{not') || l.includes('"nope"') ? [i + 1] : []));

      const env = {
        IMPORT_DATA_DIR: dir,
        IMPORT_DB_URL: h.testStore.url,
        IMPORT_FILE: file,
        IMPORT_KEY: 'nightly-mirror',
      };
      let kills = 0;
      let report: ImportReport | null = null;
      for (let run = 0; report === null && run < 30; run += 1) {
        // The first three runs are killed as soon as their batch is reported (so at least three kills happen however
        // fast the machine is), the next ones up to 60 ms later, when they may already have finished.
        const delayMs = Math.floor(random() * 60);
        const kill =
          run < KILLS ? { batches: 1 + Math.floor(random() * 4), delayMs: run < 3 ? 0 : delayMs } : null;
        const result = await runChild({ ...env, IMPORT_THREADS: String(run % 2) }, kill);
        if (result.killed) kills += 1;
        report = result.report;
      }
      expect(kills).toBeGreaterThanOrEqual(3);
      expect(report).not.toBeNull();
      expect(report!).toMatchObject({
        key: 'nightly-mirror',
        rowsRead: lines.length,
        accepted: lines.length - badLines.length,
        rejectedCount: badLines.length,
        // 0–299, and members before whose only line in the file is a bad one.
        removed: 300 + [...bad].filter((i) => i < 600 && !again.has(i)).length,
        truncated: false,
      });
      expect(report!.attempts).toBeGreaterThan(kills - 1);
      expect(report!.rejected.map((r) => r.line)).toEqual(badLines);

      await h.engine.flush();
      const expected = new Set(ids.filter((i) => !bad.has(i) || again.has(i)));
      expect(await identifiersAtX(h, audience.id)).toEqual(emails(expected));
      expect(await h.store.db.selectFrom('engine_import_seen').select('profile_key').execute()).toEqual([]);
    }, 300_000);
  });
}
