import type { Command } from 'commander';
import { registerEmulatorCommand } from './emulator.ts';
import { registerIdentityCommand } from './identity.ts';
import { registerStartCommand } from './start.ts';

/** Every `tca` sub-command registers itself here; one line per command module. */
export function registerCommands(program: Command): void {
  registerIdentityCommand(program);
  registerEmulatorCommand(program);
  registerStartCommand(program);
  void program;
}
