// An import process for the import crash test: imports IMPORT_FILE under the key IMPORT_KEY (mirror mode of segment
// `seg`), printing `BATCH <rows read>` after each batch it commits and `REPORT <json>` at the end. The test kills it
// with SIGKILL at many points; each run resumes the import the killed one left.
import { createEngine } from '../../src/engine/index.ts';
import { openStore } from '../../src/store/index.ts';
import { AuthError } from '../../src/xads/index.ts';

const env = process.env;
const store = await openStore({ dataDir: env.IMPORT_DATA_DIR!, url: env.IMPORT_DB_URL! });
const engine = createEngine({
  store,
  clientFor: () => {
    throw new AuthError({ message: 'this process only imports' });
  },
  // The attempt a kill stopped is taken over at once: only one child runs at a time.
  tuning: { importStaleMs: 1 },
});
const report = await engine.importFile(env.IMPORT_FILE!, {
  sandboxId: 'prod',
  key: env.IMPORT_KEY!,
  mode: 'mirror',
  segmentId: 'seg',
  batchSize: 40,
  threads: Number(env.IMPORT_THREADS ?? 0),
  onProgress: (p) => process.stdout.write(`BATCH ${p.rowsRead}\n`),
});
process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
await store.close();
