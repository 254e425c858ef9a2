// Runs every `bench/*.bench.ts` in its own process (so one benchmark's heap and JIT state never skew another's)
// and prints each one's report. `npm run bench -- identity` runs only the benchmarks whose name contains "identity".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();

let failed = 0;
for (const file of files) {
  console.log(`\n## ${file}\n`);
  const run = spawnSync(process.execPath, [join(here, '..', 'bin', 'run-ts.js'), join(here, file)], {
    stdio: 'inherit',
  });
  if (run.status !== 0) failed += 1;
}
if (files.length === 0) console.log(`no benchmark matches "${filter}"`);
process.exit(failed === 0 ? 0 : 1);
