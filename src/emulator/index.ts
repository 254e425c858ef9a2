export { createEmulator } from './create-emulator.ts';
export type {
  Emulator,
  EmulatorAdmin,
  EmulatorOptions,
  MemberView,
  RunningEmulator,
} from './create-emulator.ts';
export type { RequestLogEntry } from './context.ts';
export { EmulatorError } from './emulator-error.ts';
export type { FaultRates, FaultsRequest, ScriptedFault } from './faults.ts';
export { isMemberMatched, matchScore } from './match-rate.ts';
export { DEFAULT_RATE_BUDGETS } from './rate-limit.ts';
export type { RateBudget, RateFamily } from './rate-limit.ts';
export { defaultDemoSeed, parseEmulatorSeed, X_PERMISSIONS } from './seed.ts';
export type { EmulatorSeed } from './seed.ts';
export { MAX_BODY_BYTES, MAX_OPERATIONS } from './users-body.ts';
