import type { Command } from 'commander';
import { registerEmulatorCommand } from './emulator.ts';
import { registerIdentityCommand } from './identity.ts';
import { registerStartCommand } from './start.ts';
import { registerDestinationsCommand } from './destinations.ts';
import { registerSegmentsCommand } from './segments.ts';
import { registerDataflowsCommand } from './dataflows.ts';
import { registerImportCommand } from './import.ts';
import { registerImportsCommand } from './imports.ts';
import { registerImportSqlCommand } from './import-sql.ts';
import { registerRunsCommand } from './runs.ts';
import { registerAudiencesCommand } from './audiences.ts';
import { registerTokensCommand } from './tokens.ts';
import { registerSandboxesCommand } from './sandboxes.ts';
import { registerDeadLettersCommand } from './dead-letters.ts';
import { registerAlertsCommand } from './alerts.ts';
import { registerConsentCommand } from './consent.ts';
import { registerPoliciesCommand } from './policies.ts';
import { registerFieldLabelsCommand } from './field-labels.ts';
import { registerEraseCommand } from './erase.ts';
import { registerAuditCommand } from './audit.ts';
import { registerDoctorCommand } from './doctor.ts';

/** Every `tca` sub-command registers itself here; one line per command module. */
export function registerCommands(program: Command): void {
  registerIdentityCommand(program);
  registerEmulatorCommand(program);
  registerStartCommand(program);
  registerDestinationsCommand(program);
  registerSegmentsCommand(program);
  registerDataflowsCommand(program);
  registerImportCommand(program);
  registerImportsCommand(program);
  registerImportSqlCommand(program);
  registerRunsCommand(program);
  registerAudiencesCommand(program);
  registerTokensCommand(program);
  registerSandboxesCommand(program);
  registerDeadLettersCommand(program);
  registerAlertsCommand(program);
  registerConsentCommand(program);
  registerPoliciesCommand(program);
  registerFieldLabelsCommand(program);
  registerEraseCommand(program);
  registerAuditCommand(program);
  registerDoctorCommand(program);
  void program;
}
