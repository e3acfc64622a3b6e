/**
 * One pino root. Modules take `logger.child({ module })`; job code gets
 * `child({ jobId, type, attempt })`. Inputs, prompts and secrets are redacted by default.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'input',
  '*.input',
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

export function createLogger(level: string = 'info'): Logger {
  return pino({
    level,
    base: { service: 'spool' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
