/** Response and request shapes of the HTTP API, for validation and the OpenAPI document. */
import { z } from '@hono/zod-openapi';
import { BatchRequest, SubmitRequest } from '@spool/core/jobs';
import { UNSTORABLE_TEXT, unstorableText } from '@spool/core/jobs/storable-json';
import type { Context } from 'hono';
import { validationFailed } from './middleware/errors.ts';

export { BatchRequest, SubmitRequest };

export const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().nullable() }),
  })
  .openapi('Error');

export const JobStatus = z.enum(['queued', 'running', 'completed', 'failed', 'canceled']);

export const Job = z
  .object({
    id: z.string(),
    type: z.string(),
    status: JobStatus,
    // Always present (result: null until the job completes): required in the document.
    input: z.unknown().nonoptional(),
    result: z.unknown().nonoptional(),
    error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).nullable(),
    progress: z.object({ pct: z.number(), message: z.string().nullable() }),
    steps: z.array(
      z.object({
        name: z.string(),
        status: z.enum(['running', 'completed', 'failed']),
        runs: z.number().int(),
        startedAt: z.string(),
        finishedAt: z.string().nullable(),
      }),
    ),
    attempts: z.number().int(),
    priority: z.number().int().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    usage: z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() }),
    webhook: z.object({ url: z.string() }).nullable(),
    cancelRequested: z.boolean(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('Job');

export const JobList = z.object({ data: z.array(Job), nextCursor: z.string().nullable() }).openapi('JobList');

/**
 * A list's `cursor`: the `nextCursor` of the page before, the last id of that page (uuidv7,
 * after the ids' own prefix). Anything else is refused: compared as an id, garbage silently
 * restarted the list from the top. Empty means none.
 */
export const idCursor = (prefix = '') =>
  z
    .string()
    .regex(
      new RegExp(`^(?:${prefix}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$`),
      'cursor is not a nextCursor this API returned',
    )
    .optional();

/**
 * An optional query value where empty means not given, as for `cursor` and `type`: SPEC writes
 * its queries as `?status=&type=&limit=&cursor=`, and `?status=` was a 422.
 */
export const emptyIsAbsent = <T extends z.ZodType>(schema: T) =>
  z
    .union([schema, z.literal('')])
    .optional()
    .transform((v) => (v === '' ? undefined : (v as z.output<T> | undefined)));

/**
 * A list's `limit`, 1 to 100 (default 20, also when empty), in decimal digits only: a bare
 * number coercion also read `0x10`, `1e1` and ` 5` as numbers, which no client means.
 */
export const PageLimit = z
  .string()
  .regex(/^[0-9]*$/, 'limit must be a whole number from 1 to 100')
  .transform((v) => (v === '' ? 20 : Number(v)))
  .pipe(z.number().int().min(1).max(100))
  .default(20)
  .openapi({ type: 'integer', minimum: 1, maximum: 100, default: 20 });

export const ListQuery = z.object({
  status: emptyIsAbsent(JobStatus),
  type: z.string().max(100).optional(),
  limit: PageLimit,
  cursor: idCursor(),
});

/** Job ids are UUIDs, which RFC 9562 reads without regard to case; they are stored lower-case. */
export const JobIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .transform((id) => id.toLowerCase()),
});

/** The `:id` of a route declared without an OpenAPI schema, checked as JobIdParam checks it (422). */
export function jobIdOf(c: Context): string {
  const parsed = JobIdParam.safeParse({ id: c.req.param('id') });
  if (!parsed.success) throw validationFailed(parsed.error.issues);
  return parsed.data.id;
}

/** Response headers, for the OpenAPI document. */
export type Headers = Record<string, { description: string; schema: { type: 'string' | 'integer' } }>;

// Every answer carries its request id (SPEC); 429 and 503 say when to come back.
const requestId: Headers = {
  'x-request-id': { description: 'The request id (yours if sane, else a new one)', schema: { type: 'string' } },
};
const retryAfter: Headers = {
  'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer' } },
};
const error = (description: string, headers: Headers = requestId) => ({
  description,
  headers,
  content: { 'application/json': { schema: ErrorBody } },
});

export const errorResponses = {
  400: error('Malformed JSON'),
  401: error('Missing, invalid or revoked API key'),
  403: error('The key lacks the scope'),
  404: error('Not found (or another tenant’s)'),
  405: error('The path answers other methods, listed in `Allow`', {
    ...requestId,
    Allow: { description: 'The methods the path answers', schema: { type: 'string' } },
  }),
  413: error('The request body is over the limit'),
  415: error('A request body that is not JSON'),
  422: error('A value fails validation (`details` lists the issues)'),
  429: error('Over the API key’s rate limit; see Retry-After', { ...requestId, ...retryAfter }),
  503: error('PostgreSQL or Redis unreachable; see Retry-After', { ...requestId, ...retryAfter }),
} as const;

export const json = <T extends z.ZodType>(schema: T, description: string, headers: Headers = {}) => ({
  description,
  headers: { ...requestId, ...headers },
  content: { 'application/json': { schema } },
});

/**
 * Text stored as sent: PostgreSQL refuses NUL and writes an unpaired surrogate as U+FFFD, so the
 * answer would show a name the database does not hold.
 */
export const StorableText = () => z.string().refine((s) => !unstorableText(s), UNSTORABLE_TEXT);

/** For admin routes' createRoute: the admin token, not a tenant key (the document's scheme `adminToken`). */
export const adminOnly = { security: [{ adminToken: [] }] };
