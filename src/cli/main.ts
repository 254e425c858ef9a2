import { Command } from 'commander';
import { registerCommands } from './commands/index.ts';
import { outboundProxyFromEnv } from '../net/outbound-proxy.ts';

// Every request any command makes (X, signed URLs, the service, collectors, webhooks) goes through the proxy the
// environment names; a proxy setting that cannot be used stops here rather than being skipped.
const outbound = outboundProxyFromEnv(process.env);
if (outbound.problems.length > 0) {
  for (const problem of outbound.problems) console.error(`tca: ${problem.variable} ${problem.message}`);
  process.exit(2);
}
if (outbound.proxy) (await import('../net/outbound-dispatcher.ts')).installOutboundProxy(outbound.proxy);

const program = new Command('tca')
  .description('Activate customer audiences to X Custom Audiences')
  // An option after a subcommand is the subcommand's: `tca alerts silence --json` is not `tca alerts --json`.
  .enablePositionalOptions()
  // The error alone, with where to read more: a whole help page would bury the one line that matters.
  .showHelpAfterError('(add --help for usage)')
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

await registerCommands(program, process.argv.slice(2));

await program.parseAsync(process.argv);
