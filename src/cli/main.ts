import { Command } from 'commander';
import { registerCommands } from './commands/index.ts';

const program = new Command('tca')
  .description('Activate customer audiences to X Custom Audiences')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerCommands(program);

await program.parseAsync(process.argv);
