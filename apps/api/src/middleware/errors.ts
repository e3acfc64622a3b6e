/**
 * The one error mapper: every failure becomes `{"error":{"code","message","details"}}` with the
 * right status. Never a stack trace; never a 500 for bad input; 503 + Retry-After when
 * PostgreSQL or Redis is down.
 */
import { SpoolError, toClientError } from '@spool/core/errors';
import type { Logger } from '@spool/core/logger';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { unsupportedMediaType } from './body.ts';

/** SPEC's error shape, `details` always present (`null` when there are none). */
export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, details: details ?? null } };
}

/**
 * 422 `validation_failed` from zod issues, in the one shape every route answers: the first
 * issue as "path: message" and `details` as `[{path, message}]`. Used by the OpenAPI routes'
 * hook (app.ts) and by the routes that validate by hand.
 */
export function validationFailed(zodIssues: readonly { path: PropertyKey[]; message: string }[]): SpoolError {
  const issues = zodIssues.map((i) => ({ path: i.path, message: i.message }));
  const first = issues[0];
  const message = first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid request';
  return new SpoolError('validation_failed', message, { status: 422, details: issues });
}

export function toHttpError(err: unknown): SpoolError {
  if (err instanceof SpoolError) return err;
  if (err instanceof HTTPException) {
    const status = err.status;
    if (status === 400) {
      const malformed = /JSON/i.test(err.message);
      return new SpoolError(
        malformed ? 'invalid_json' : 'bad_request',
        malformed ? 'the request body is not valid JSON' : err.message,
        { status },
      );
    }
    if (status === 415) return unsupportedMediaType();
    // 503 comes from the request deadline (app.ts): a dependency that never answered.
    if (status === 503) return new SpoolError('service_unavailable', err.message, { status, retryAfterMs: 5_000 });
    return new SpoolError('http_error', err.message || 'request failed', { status });
  }
  return toClientError(err);
}

export function sendError(c: Context, err: unknown, log: Logger): Response {
  const e = toHttpError(err);
  if (e.status >= 500 && e.status !== 503) log.error({ err: e.cause ?? err, requestId: c.get('requestId') }, 'request failed');
  if (e.retryAfterMs !== undefined) c.header('Retry-After', String(Math.ceil(e.retryAfterMs / 1000)));
  return c.json(errorBody(e.code, e.message, e.details), e.status as ContentfulStatusCode);
}
