import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { defaultDemoSeed, EmulatorSeed } from '../../emulator/index.ts';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535, e.g. 9090');
  }
  return port;
}

function parseNonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

function parseRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('expected a rate from 0 to 1, e.g. 0.7');
  return n;
}

/** The start-up banner: where the emulator listens and the credentials it accepts. */
export function formatEmulatorBanner(url: string, seed: ReturnType<typeof defaultDemoSeed>): string {
  const lines = [`X Ads API emulator listening on ${url}`, `  admin API: ${url}/_emulator`, ''];
  for (const app of seed.apps) {
    lines.push(`app      consumer_key=${app.consumer_key} consumer_secret=${app.consumer_secret}`);
  }
  for (const user of seed.users) {
    lines.push(
      `user     user_id=${user.user_id} consumer_key=${user.consumer_key} token=${user.token} token_secret=${user.token_secret}`,
    );
  }
  for (const account of seed.accounts) {
    const access = account.access.map((a) => `${a.user_id}:${a.permissions.join('+')}`).join(', ');
    lines.push(`account  id=${account.id} name=${JSON.stringify(account.name)} access=${access}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `tca emulator [--port 9090] [--host 127.0.0.1] [--seed FILE]`: runs the X Ads API emulator and prints its
 * base URL and the seeded credentials (a demo app, user and account without --seed).
 */
export function registerEmulatorCommand(program: Command): void {
  program
    .command('emulator')
    .description('Run the local X Ads API emulator (Custom Audiences) for development and tests')
    .option('--port <port>', 'port to listen on (0 picks a free one)', parsePort, 9090)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--seed <file>', 'JSON seed file: {"apps":[…],"users":[…],"accounts":[…]}')
    .option(
      '--processing-delay <seconds>',
      'seconds from a membership change until the audience size is computed (X takes 6-8 hours)',
      parseNonNegative,
      60,
    )
    .option('--match-rate <rate>', 'share of members X matches when sizing audiences', parseRate, 1)
    .addHelpText(
      'after',
      '\nExamples:\n  tca emulator\n  tca emulator --port 9191 --seed ./emulator-seed.json\n  curl -X POST http://127.0.0.1:9090/_emulator/process',
    )
    .action(
      async (opts: {
        port: number;
        host: string;
        seed?: string;
        processingDelay: number;
        matchRate: number;
      }) => {
        // Loaded here, not with the CLI: every other command starts without the emulator's code.
        const { createEmulator, defaultDemoSeed, parseEmulatorSeed } =
          await import('../../emulator/index.ts');
        let seedInput: unknown = defaultDemoSeed();
        if (opts.seed !== undefined) {
          try {
            seedInput = JSON.parse(await readFile(opts.seed, 'utf8')) as unknown;
          } catch (error) {
            process.stderr.write(
              `Cannot read the seed file ${opts.seed}: ${(error as Error).message}\nPass a JSON file shaped like {"apps":[{"consumer_key":"…","consumer_secret":"…"}],"users":[…],"accounts":[…]}.\n`,
            );
            process.exitCode = 2;
            return;
          }
        }
        const parsed = parseEmulatorSeed(seedInput);
        if (!parsed.ok) {
          const details = parsed.errors.map((e) => `  ${e.path || '(root)'}: ${e.reason}`).join('\n');
          process.stderr.write(`The seed file ${opts.seed ?? ''} is invalid:\n${details}\n`);
          process.exitCode = 2;
          return;
        }
        const emulator = createEmulator({
          seed: parsed.seed as EmulatorSeed,
          processingDelayMs: opts.processingDelay * 1000,
          matchRate: opts.matchRate,
        });
        let running: Awaited<ReturnType<typeof emulator.listen>>;
        try {
          running = await emulator.listen({ port: opts.port, host: opts.host });
        } catch (error) {
          const code = (error as { code?: string }).code;
          const reason =
            code === 'EADDRINUSE'
              ? `port ${opts.port} is already in use; pass another one with --port (0 picks a free port)`
              : (error as Error).message;
          process.stderr.write(
            `Cannot start the X Ads API emulator on ${opts.host}:${opts.port}: ${reason}\n`,
          );
          process.exitCode = 2;
          return;
        }
        process.stdout.write(formatEmulatorBanner(running.url, parsed.seed));
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void running.close().then(() => {
            process.stdout.write('X Ads API emulator stopped\n');
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );
}
