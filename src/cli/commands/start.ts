import { Option, type Command } from 'commander';
import { ConfigError, loadConfig, ROLES } from '../../config/index.ts';
import { examples } from './api-client.ts';

/**
 * `tca start [--role api|worker|all] [--demo]`: the API and delivery workers in one process. SIGINT/SIGTERM stop
 * taking requests, drain in-flight deliveries and close the store.
 */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('Run the service: REST API, console and delivery workers')
    .addOption(new Option('--role <role>', 'api (HTTP only), worker (delivery only), or all').choices(ROLES))
    .option(
      '--demo',
      'seed a demo destination, segments and dataflow on the built-in X emulator and stream synthetic profiles',
    )
    .option('--port <port>', 'listen port (TCA_PORT, default 8080)')
    .option('--host <host>', 'listen address (TCA_HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'data directory (TCA_DATA_DIR, default ./data)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (TCA_LOG_LEVEL, default info)')
    .addHelpText(
      'after',
      examples([
        'tca start --demo                       # the demo: SQLite + built-in X emulator + sample data',
        'TCA_PORT=9000 tca start                # API + workers on port 9000',
        'TCA_DATABASE_URL=postgres://tca@db/tca tca start --role api',
        'TCA_DATABASE_URL=postgres://tca@db/tca tca start --role worker',
      ]),
    )
    .action(
      async (opts: {
        role?: string;
        demo?: boolean;
        port?: string;
        host?: string;
        dataDir?: string;
        logLevel?: string;
      }) => {
        let config;
        try {
          config = loadConfig(process.env, {
            ...(opts.role !== undefined ? { role: opts.role } : {}),
            ...(opts.demo ? { demo: true } : {}),
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(opts.host !== undefined ? { host: opts.host } : {}),
            ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
            ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
          });
        } catch (e) {
          if (e instanceof ConfigError) {
            process.stderr.write(e.message + '\n');
            process.exit(2);
          }
          throw e;
        }

        // Loaded here so other commands start without the server's dependencies.
        const { startService } = await import('../../server/service.ts');
        const { formatDemoSummary, runDemo } = await import('../../demo/run-demo.ts');
        let close: () => Promise<void>;
        if (config.demo) {
          const demo = await runDemo(config);
          process.stdout.write(formatDemoSummary(demo.summary) + '\n');
          close = demo.close;
        } else {
          const service = await startService(config);
          if (service.adminToken) {
            process.stdout.write(
              `Admin token (shown once; also written to ${service.adminTokenFile}, mode 0600):\n  ${service.adminToken}\n`,
            );
          }
          process.stdout.write(`Listening on ${service.url} (role ${config.role})\n`);
          close = service.close;
        }

        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) {
            process.stderr.write('forced exit\n');
            process.exit(130);
          }
          stopping = true;
          process.stderr.write(`${signal}: draining in-flight deliveries…\n`);
          const timer = setTimeout(() => {
            process.stderr.write(`shutdown took longer than ${config.shutdownTimeoutSeconds}s; exiting\n`);
            process.exit(1);
          }, config.shutdownTimeoutSeconds * 1000);
          timer.unref();
          close().then(
            () => process.exit(0),
            (e: unknown) => {
              process.stderr.write(`shutdown failed: ${String(e)}\n`);
              process.exit(1);
            },
          );
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      },
    );
}
