/**
 * The one error type of Spool. Everything thrown across a boundary (HTTP, worker, provider)
 * becomes a SpoolError through `toSpoolError`, and the API maps it to
 * `{"error":{"code","message","details"}}` with `status`.
 */
import { cleanText } from './jobs/storable-json.ts';

export interface SpoolErrorOptions {
  status?: number;
  retryable?: boolean;
  retryAfterMs?: number;
  details?: unknown;
  cause?: unknown;
}

export class SpoolError extends Error {
  override name = 'SpoolError';
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;

  constructor(code: string, message: string, opts: SpoolErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.status = opts.status ?? 500;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
  }

  /** The shape stored on a job and shown to clients (its text as PostgreSQL can keep it). */
  toJobError(): JobError {
    return { code: cleanText(this.code), message: cleanText(this.message), retryable: this.retryable };
  }
}

export interface JobError {
  code: string;
  message: string;
  retryable: boolean;
}

/** Errors a handler throws that should fail the job at once (no more attempts). */
export const nonRetryable = (code: string, message: string, details?: unknown) =>
  new SpoolError(code, message, { status: 422, retryable: false, details });

/** Maps anything thrown to a SpoolError. Unknown errors are retryable internal errors. */
export function toSpoolError(err: unknown): SpoolError {
  if (err instanceof SpoolError) return err;
  if (err instanceof Error && err.name === 'AbortError') {
    return new SpoolError('aborted', err.message || 'aborted', { retryable: false, cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  // A failed statement's message holds its SQL text and parameters: the job's error is shown to
  // its tenant, so it says only that a statement failed (the worker's log has the whole of it).
  const sqlState = sqlStateOf(err);
  if (sqlState !== undefined || message.startsWith('Failed query:')) {
    const which = sqlState === undefined ? '' : ` (SQLSTATE ${sqlState})`;
    return new SpoolError('internal', `a database statement failed${which}`, { retryable: true, cause: err });
  }
  return new SpoolError('internal', message || 'internal error', { retryable: true, cause: err });
}

/** The PostgreSQL SQLSTATE of an error or of one of its causes (drizzle wraps the driver's). */
function sqlStateOf(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let e = err; e && typeof e === 'object' && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    // Five digits or capitals with a digit among them: Node's EPIPE is not one.
    if (typeof code === 'string' && /^(?=.*\d)[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** True for errors that mean "the database or Redis is not reachable right now". */
export function isUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      [
        'ECONNREFUSED',
        'ECONNRESET',
        'ETIMEDOUT',
        'ENOTFOUND',
        'EPIPE',
        'CONNECTION_CLOSED',
        'CONNECTION_ENDED',
        'CONNECTION_DESTROYED',
        'CONNECT_TIMEOUT',
        '57P01',
        '57P03',
        '53300',
      ].includes(code)
    )
      return true;
    const message = (e as { message?: unknown }).message;
    if (
      typeof message === 'string' &&
      /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out/.test(message)
    )
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * True for a PostgreSQL data exception (SQLSTATE class 22): a value PostgreSQL refuses, such
 * as a NUL character in text. The API sends only what the client gave it into such a spot
 * (ids, filters, names), so it is bad input, not a server failure.
 */
export function isDataException(err: unknown): boolean {
  return sqlStateOf(err)?.startsWith('22') ?? false;
}

/**
 * What a client is told about anything thrown while serving it (the API and the dashboard): a
 * SpoolError as it is, an outage as 503 + Retry-After, PostgreSQL refusing a value the client
 * sent as 422, and anything else as a bare 500 whose text stays in the server's log.
 */
export function toClientError(err: unknown): SpoolError {
  if (err instanceof SpoolError) return err;
  if (isUnavailable(err)) {
    return new SpoolError('service_unavailable', 'a dependency (PostgreSQL or Redis) is unreachable; try again shortly', {
      status: 503,
      retryAfterMs: 5_000,
      cause: err,
    });
  }
  if (isDataException(err)) {
    const message = 'a value in the request is not valid text (NUL characters and unpaired surrogates are refused)';
    return new SpoolError('validation_failed', message, { status: 422, cause: err });
  }
  return new SpoolError('internal', 'internal error', { status: 500, cause: err });
}
