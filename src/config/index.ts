export { loadConfig, ConfigError, ROLES, LOG_LEVELS, X_API_DEFAULT_BASE_URL } from './load-config.ts';
export type {
  Config,
  ConfigFlags,
  ConfigProblem,
  Role,
  LogLevel,
  AuditForwardConfig,
} from './load-config.ts';
