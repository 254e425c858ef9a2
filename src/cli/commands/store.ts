import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/index.ts';
import { action, CliError, EXIT, examples, printJson } from './api-client.ts';

const MB = 1024 * 1024;

/** `tca store …`: maintenance of the installation's own store, run where its files are (not through the service). */
export function registerStoreCommand(program: Command): void {
  const store = program
    .command('store')
    .description("Maintain this installation's store (run on the machine that holds it)");
  store
    .command('compact')
    .description(
      'Rewrite the SQLite file with 16 KiB pages and without the space of deleted rows (stop the service first)',
    )
    .option('--data-dir <dir>', 'the data directory (default: TCA_DATA_DIR, else ./data)')
    .option('--json', 'print the file before and after as JSON')
    .addHelpText(
      'after',
      examples([
        'tca store compact                    # the store of TCA_DATA_DIR, with the service stopped',
        'tca store compact --data-dir /srv/tca --json',
      ]),
    )
    .action(
      action(async (opts: { dataDir?: string; json?: boolean }) => {
        let config;
        try {
          config = loadConfig(process.env, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
        } catch (e) {
          if (e instanceof ConfigError) throw new CliError(e.message, EXIT.usage);
          throw e;
        }
        const { compactSqliteFile, isPostgresUrl, sqlitePath, StoreError } =
          await import('../../store/index.ts');
        if (isPostgresUrl(config.databaseUrl)) {
          throw new CliError(
            'The store is PostgreSQL, which compacts its own tables (autovacuum); nothing to do here',
            EXIT.refused,
          );
        }
        const path = sqlitePath(config.databaseUrl, config.dataDir);
        let result;
        try {
          result = compactSqliteFile(path);
        } catch (e) {
          if (e instanceof StoreError)
            throw new CliError(e.message, e.code === 'not_found' ? EXIT.notFound : EXIT.refused);
          throw e;
        }
        if (opts.json) printJson({ path, ...result });
        else {
          const shape = (s: { pageSize: number; bytes: number }) =>
            `${(s.bytes / MB).toFixed(1)} MB in ${s.pageSize / 1024} KiB pages`;
          process.stdout.write(`${path}: ${shape(result.before)} -> ${shape(result.after)}\n`);
        }
      }),
    );
}
