/**
 * One pino root. Modules take `logger.child({ module })`; job code gets
 * `child({ jobId, type, attempt })`; the API's request lines carry `requestId` and `tenantId`.
 * Inputs, prompts, results and secrets are redacted by default: a log line may travel to
 * systems with wider access than the database, and a tenant's data must not.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { DestinationStream, Logger };

// Keys that hold a tenant's data or a credential, wherever they appear in a logged object
// (top level, or nested up to MAX_DEPTH levels down, such as `job.input` or
// `req.headers.authorization`).
const SENSITIVE = new Set([
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
  'set-cookie',
  'x-api-key',
]);
const MAX_DEPTH = 3;
const CENSOR = '[redacted]';

/**
 * `value` with every sensitive key's value censored, copied only where something was censored
 * (a log line without one allocates nothing). Plain objects and arrays are walked; other
 * objects (errors, dates, buffers) are left to pino's serializers. This replaces pino's
 * `redact` option, whose wildcard paths (`*.input`, `*.*.input`) cost ~40 µs per line: it was
 * the largest single cost of a worker running no-op jobs.
 */
export function redact<T>(value: T, depth = 0): T {
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = depth < MAX_DEPTH ? redact(value[i], depth + 1) : value[i];
      if (next === value[i]) continue;
      out ??= value.slice();
      out[i] = next;
    }
    return (out ?? value) as T;
  }
  if (!isPlainObject(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const key in value) {
    const v = value[key];
    const next = SENSITIVE.has(key) && v !== undefined ? CENSOR : depth < MAX_DEPTH ? redact(v, depth + 1) : v;
    if (next === v) continue;
    out ??= { ...value };
    out[key] = next;
  }
  return (out ?? value) as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Stdout, written asynchronously: lines logged while a write is in flight go out together in
 * the next one, so a busy worker makes one write per batch of lines instead of one blocking
 * write per line (A/B drains of a profiling script: ~10% more no-op jobs per second, ~8% less
 * worker CPU per job). pino flushes what is waiting when the process exits, by `process.exit`
 * or an uncaught error; only a SIGKILL can lose the last lines. A stdout that nobody reads
 * cannot stall the process either: past `MAX_WAITING_LOG_BYTES` waiting, lines are dropped.
 */
const MAX_WAITING_LOG_BYTES = 16 * 1024 * 1024;
const stdout = () => pino.destination({ dest: 1, sync: false, maxLength: MAX_WAITING_LOG_BYTES });

/**
 * The process's root logger: JSON lines with an ISO time, to stdout unless `destination` is
 * given (tests pass a stream to read what would have been written).
 */
export function createLogger(level: string = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'spool' },
    formatters: { log: redact },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const root = pino(options, destination ?? stdout());
  // A child's bindings are redacted too. pino applies no formatter to them, but every child
  // is created from its parent's prototype chain, so this reaches grandchildren as well.
  const child = root.child;
  root.child = function (this: Logger, bindings, opts) {
    return child.call(this, redact(bindings), opts);
  } as Logger['child'];
  return root;
}

/**
 * A warning that an outage repeats many times a second (a queue's connection errors while Redis
 * is down): logged at once, then at most once per `everyMs`, with how many were left out, so
 * an operator reads what happened without a flood.
 */
export function throttledWarn(log: Logger, message: string, everyMs = 10_000): (fields: Record<string, unknown>) => void {
  let last = 0;
  let skipped = 0;
  return (fields) => {
    const now = Date.now();
    if (now - last < everyMs) {
      skipped++;
      return;
    }
    log.warn(skipped > 0 ? { ...fields, repeated: skipped } : fields, message);
    last = now;
    skipped = 0;
  };
}

/**
 * An emitter's `error` events (a BullMQ queue's or worker's connection errors, many a second
 * during an outage) as throttled warnings: the message only, with `fields`.
 */
export function warnOnErrors(
  emitter: { on(event: 'error', listener: (err: Error) => void): unknown },
  log: Logger,
  message: string,
  fields: Record<string, unknown> = {},
): void {
  const warn = throttledWarn(log, message);
  emitter.on('error', (err) => warn({ ...fields, err: err.message }));
}
