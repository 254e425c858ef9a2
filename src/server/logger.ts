import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../config/index.ts';

/**
 * Paths pino blanks out wherever they appear: credentials, tokens, and raw identifiers. Raw identifiers should never
 * reach a log call; these paths are a second line of defence.
 */
export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'credentials',
  '*.credentials',
  'consumerKey',
  'consumerSecret',
  'accessToken',
  'accessTokenSecret',
  '*.consumerKey',
  '*.consumerSecret',
  '*.accessToken',
  '*.accessTokenSecret',
  'secretKey',
  '*.secretKey',
  'pin',
  '*.pin',
  'identityMap',
  '*.identityMap',
  'email',
  '*.email',
  'phone',
  '*.phone',
  'phone_number',
  '*.phone_number',
  'device_id',
  '*.device_id',
  'handle',
  '*.handle',
];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tca' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
