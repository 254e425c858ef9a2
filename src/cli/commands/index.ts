import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every `tca` sub-command, in the order help lists them, with the module that registers it (one registers two). A module is loaded only
 * when its command runs (or help lists them all): a command that only talks to the service starts without the
 * modules of the service, the store, the emulator and the file readers.
 */
export const COMMANDS: ReadonlyArray<readonly [names: readonly string[], load: () => Promise<Register>]> = [
  [['identity'], async () => (await import('./identity.ts')).registerIdentityCommand],
  [['emulator'], async () => (await import('./emulator.ts')).registerEmulatorCommand],
  [['start'], async () => (await import('./start.ts')).registerStartCommand],
  [['destinations'], async () => (await import('./destinations.ts')).registerDestinationsCommand],
  [['segments'], async () => (await import('./segments.ts')).registerSegmentsCommand],
  [['dataflows'], async () => (await import('./dataflows.ts')).registerDataflowsCommand],
  [['import'], async () => (await import('./import.ts')).registerImportCommand],
  [['imports'], async () => (await import('./imports.ts')).registerImportsCommand],
  [['import-sql'], async () => (await import('./import-sql.ts')).registerImportSqlCommand],
  [['runs'], async () => (await import('./runs.ts')).registerRunsCommand],
  [['monitor'], async () => (await import('./monitor.ts')).registerMonitorCommand],
  [['audiences', 'activate-now'], async () => (await import('./audiences.ts')).registerAudiencesCommand],
  [['tokens'], async () => (await import('./tokens.ts')).registerTokensCommand],
  [['sandboxes'], async () => (await import('./sandboxes.ts')).registerSandboxesCommand],
  [['dead-letters'], async () => (await import('./dead-letters.ts')).registerDeadLettersCommand],
  [['alerts'], async () => (await import('./alerts.ts')).registerAlertsCommand],
  [['consent'], async () => (await import('./consent.ts')).registerConsentCommand],
  [['policies'], async () => (await import('./policies.ts')).registerPoliciesCommand],
  [['field-labels'], async () => (await import('./field-labels.ts')).registerFieldLabelsCommand],
  [['erase'], async () => (await import('./erase.ts')).registerEraseCommand],
  [['audit'], async () => (await import('./audit.ts')).registerAuditCommand],
  [['doctor'], async () => (await import('./doctor.ts')).registerDoctorCommand],
  [['store'], async () => (await import('./store.ts')).registerStoreCommand],
];

/**
 * Registers the command `args` (the arguments after `tca`) runs, or every command when they name none that exists
 * (help, a typo that help then corrects). `tca` itself takes no option with a value, so the first argument that is
 * not an option names the command.
 */
export async function registerCommands(program: Command, args: readonly string[]): Promise<void> {
  const name = args.find((arg) => !arg.startsWith('-'));
  const one = COMMANDS.filter(([names]) => name !== undefined && names.includes(name));
  for (const [, load] of one.length === 1 ? one : COMMANDS) (await load())(program);
}
