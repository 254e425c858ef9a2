export {
  loadConfig,
  ConfigError,
  ROLES,
  LOG_LEVELS,
  WEBHOOK_FORMATS,
  X_API_DEFAULT_BASE_URL,
  PAGERDUTY_EVENTS_URL,
} from './load-config.ts';
export type {
  Config,
  ConfigFlags,
  ConfigProblem,
  Role,
  LogLevel,
  AuditForwardConfig,
  WebhookFormat,
} from './load-config.ts';
