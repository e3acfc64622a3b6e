/**
 * One pino root. Modules take `logger.child({ module })`; job code gets
 * `child({ jobId, type, attempt })`; the API's request lines carry `requestId` and `tenantId`.
 * Inputs, prompts, results and secrets are redacted by default: a log line may travel to
 * systems with wider access than the database, and a tenant's data must not.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { DestinationStream, Logger };

// Keys that hold a tenant's data or a credential, wherever they appear in a logged object
// (top level, one level down such as `job.input`, two levels down such as `data.job.input`).
const SENSITIVE = [
  'input',
  'result',
  'messages',
  'prompt',
  'question',
  'text',
  'documents',
  'secret',
  'webhookSecret',
  'apiKey',
  'adminToken',
  'token',
  'password',
  'authorization',
  'cookie',
];

/** pino `redact` paths: each sensitive key at depth 0 to 2, and request headers. */
export const REDACT_PATHS = [
  ...SENSITIVE.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  'headers["x-api-key"]',
  '*.headers["x-api-key"]',
  '*.headers["set-cookie"]',
  '*.*.headers.authorization',
];

/**
 * The process's root logger: JSON lines with an ISO time, to stdout unless `destination` is
 * given (tests pass a stream to read what would have been written).
 */
export function createLogger(level: string = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'spool' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
