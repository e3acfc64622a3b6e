/** /v1/jobs: submit, batch, get, list, cancel, retry. */
import type { HttpBindings } from '@hono/node-server';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import type { Context } from 'hono';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import {
  BatchRequest,
  ErrorBody,
  errorResponses,
  type Headers,
  Job,
  JobIdParam,
  JobList,
  json,
  ListQuery,
  SubmitRequest,
} from '../schemas.ts';

/** On a 202 that answers an idempotency key seen before: the job(s) it made then. */
const replayed: Headers = {
  'Idempotent-Replayed': { description: '`true` when the key was seen before: no new job', schema: { type: 'string' } },
};

const conflict = { 409: json(ErrorBody, 'Conflict (idempotency key reused with another body, or wrong state)') };
const invalid = { 422: json(ErrorBody, 'Unknown job type or input that fails its schema') };

const submit = createRoute({
  method: 'post',
  path: '/v1/jobs',
  summary: 'Submit a job',
  description:
    'Commits the job to PostgreSQL, then enqueues it; answers 202 once the job is durable. The `Idempotency-Key` header works like `idempotencyKey`.',
  request: { body: { content: { 'application/json': { schema: SubmitRequest } }, required: true } },
  // Documented here and checked in the handler (idempotencyKeyHeader), not by a `headers`
  // schema: that validator copies every request header into an object on each submit.
  parameters: [
    {
      in: 'header',
      name: 'idempotency-key',
      required: false,
      description: 'Works like the body field `idempotencyKey`; both may be sent if they are equal.',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    },
  ],
  responses: { 202: json(Job, 'Accepted: the job', replayed), ...errorResponses, ...conflict, ...invalid },
});

const batch = createRoute({
  method: 'post',
  path: '/v1/jobs/batch',
  summary: 'Submit up to 1,000 jobs at once',
  description:
    'All or nothing. An `Idempotency-Key` header keys item i as `<key>:<i>` unless it has its own `idempotencyKey`, so a retried batch answers the same jobs.',
  request: { body: { content: { 'application/json': { schema: BatchRequest } }, required: true } },
  responses: {
    202: json(z.object({ data: z.array(Job) }), 'Accepted: the jobs, in request order', replayed),
    ...errorResponses,
    ...conflict,
    ...invalid,
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  summary: 'Get a job',
  request: { params: JobIdParam },
  responses: { 200: json(Job, 'The job'), ...errorResponses },
});

const list = createRoute({
  method: 'get',
  path: '/v1/jobs',
  summary: 'List jobs, newest first',
  request: { query: ListQuery },
  responses: { 200: json(JobList, 'A page of jobs; pass nextCursor as cursor for the next'), ...errorResponses },
});

const cancel = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  summary: 'Cancel a job',
  description:
    'A queued job is canceled at once (200). A running job is told to stop (202, `cancelRequested: true`); its `canceled` event follows.',
  request: { params: JobIdParam },
  responses: { 200: json(Job, 'Canceled'), 202: json(Job, 'Cancel requested'), ...errorResponses, ...conflict },
});

const retry = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/retry',
  summary: 'Retry a failed or canceled job',
  description: 'Queued again with its completed steps kept.',
  request: { params: JobIdParam },
  responses: { 202: json(Job, 'Queued again'), ...errorResponses, ...conflict },
});

export function jobRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  const write = requireScope(deps, 'jobs:write');
  const read = requireScope(deps, 'jobs:read');
  app.use('/v1/jobs/batch', write);
  app.on('POST', ['/v1/jobs', '/v1/jobs/:id/cancel', '/v1/jobs/:id/retry'], write);
  app.on('GET', ['/v1/jobs', '/v1/jobs/*'], read);

  app.openapi(submit, async (c) => {
    const body = c.req.valid('json');
    const header = idempotencyKeyHeader(c);
    if (header !== undefined && body.idempotencyKey != null && header !== body.idempotencyKey) {
      throw new SpoolError('idempotency_key_mismatch', "the Idempotency-Key header and the body's idempotencyKey differ", {
        status: 422,
      });
    }
    const [out] = await deps.jobs.submit(c.get('tenantId'), [{ ...body, idempotencyKey: body.idempotencyKey ?? header }]);
    if (out!.replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(out!.job, 202);
  });

  app.openapi(batch, async (c) => {
    // An Idempotency-Key on the batch makes a retried batch replay, not duplicate: item i is
    // keyed `<key>:<i>` unless it has a key of its own. (It was ignored without a word.)
    const header = idempotencyKeyHeader(c);
    const jobs = c.req
      .valid('json')
      .jobs.map((job, i) =>
        header === undefined || job.idempotencyKey != null ? job : { ...job, idempotencyKey: `${header}:${i}` },
      );
    const out = await deps.jobs.submit(c.get('tenantId'), jobs);
    if (out.length > 0 && out.every((o) => o.replayed)) c.header('Idempotent-Replayed', 'true');
    return c.json({ data: out.map((o) => o.job) }, 202);
  });

  app.openapi(list, async (c) => c.json(await deps.jobs.list(c.get('tenantId'), c.req.valid('query')), 200));

  app.openapi(get, async (c) => c.json(await deps.jobs.get(c.get('tenantId'), c.req.valid('param').id), 200));

  app.openapi(cancel, async (c) => {
    const job = await deps.jobs.cancel(c.get('tenantId'), c.req.valid('param').id);
    return job.status === 'canceled' ? c.json(job, 200) : c.json(job, 202);
  });

  app.openapi(retry, async (c) => c.json(await deps.jobs.retry(c.get('tenantId'), c.req.valid('param').id), 202));
}

/**
 * The Idempotency-Key header, held to the body field's rules (unchecked, any length reached
 * PostgreSQL), and printable ASCII: Node reads header bytes as Latin-1, so a UTF-8 `café` became
 * `cafÃ©`, another key than the same one in the body.
 */
const HEADER_KEY = SubmitRequest.shape.idempotencyKey
  .unwrap()
  .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII (send other keys in the body field)');

function idempotencyKeyHeader(c: Context<AppEnv>): string | undefined {
  const value = c.req.header('idempotency-key');
  if (value === undefined) return undefined;
  // Node joins a repeated header with ", ": two keys would be read as one key `a, b`.
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  if (value.includes(',') && (incoming?.headersDistinct['idempotency-key']?.length ?? 0) > 1)
    throw new SpoolError('validation_failed', 'idempotency-key: send one Idempotency-Key header, not several', {
      status: 422,
    });
  const parsed = HEADER_KEY.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: ['idempotency-key', ...i.path], message: i.message }));
  throw new SpoolError('validation_failed', `idempotency-key: ${issues[0]!.message}`, { status: 422, details: issues });
}
