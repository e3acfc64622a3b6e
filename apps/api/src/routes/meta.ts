/** Health, readiness, metrics, job types, and the OpenAPI document with its docs page. */

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { registry as metrics, webhooksPending } from '@spool/core/metrics';
import { createDepthSampler } from '@spool/core/queue';
import { countPendingDeliveries } from '@spool/core/store/webhooks';
import { TimeoutError, within } from '@spool/core/time';
import { z } from 'zod';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import { ErrorBody, errorResponses, JobIdParam, json } from '../schemas.ts';

/** One dependency's answer to a ping: what a probe may show, never a driver's own message. */
async function check(p: Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    await within(2_000, p);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof TimeoutError ? 'no answer within 2 s' : 'unreachable' };
  }
}

export function metaRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  // Served before the app on node:http (see serve.ts); this answers app.request() and other hosts.
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const [postgres, redis] = await Promise.all([check(deps.db.ping()), check(deps.redis.ping())]);
    const checks = { postgres, redis };
    if (postgres.ok && redis.ok) return c.json({ status: 'ok', checks }, 200);
    const down = [postgres.ok ? [] : ['PostgreSQL'], redis.ok ? [] : ['Redis']].flat();
    throw new SpoolError('not_ready', `${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} unreachable`, {
      status: 503,
      retryAfterMs: 5_000,
      details: { checks },
    });
  });

  // Queue depth is read at scrape time (costs nothing between scrapes), at most once per second.
  const sampleDepth = createDepthSampler(() => [...deps.queues.all(), deps.webhooks.queue]);
  app.get('/metrics', async (c) => {
    await sampleDepth();
    await within(
      2_000,
      countPendingDeliveries(deps.db).then((n) => webhooksPending.set(n)),
    ).catch(() => {});
    return c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType });
  });

  // Made at the first request (after migrate() has found out about pgvector) and kept: the JSON
  // Schemas cost about a millisecond per request and cannot change while the process runs.
  let jobTypes: object | undefined;
  const describeJobTypes = () => ({
    data: deps.registry.list.map((d) => ({
      name: d.name,
      description: d.description,
      input: z.toJSONSchema(d.input, { io: 'input' }),
      output: z.toJSONSchema(d.output, { io: 'output' }),
      retry: d.retry,
      timeoutMs: d.timeoutMs,
      concurrency: d.concurrency,
      // A document type on a PostgreSQL without pgvector is refused at submit (422 vectors_unavailable).
      available: d.needsVectors !== true || deps.db.vectors,
    })),
    // One page: every list is `{data, nextCursor}` (SPEC).
    nextCursor: null,
  });
  app.get('/v1/job-types', requireScope(deps, 'jobs:read'), (c) => {
    jobTypes ??= describeJobTypes();
    return c.json(jobTypes);
  });

  for (const d of deps.registry.list) {
    app.openAPIRegistry.register(`${pascal(d.name)}Input`, d.input as never);
  }
  registerPlainRoutes(app);
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer' });
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'SPOOL_ADMIN_TOKEN: the /v1/admin routes only (a tenant key gets 403)',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Spool API',
      version: '1',
      description:
        'Queue-first async jobs for AI workloads. Job inputs per type are listed under components (`<Type>Input`) and at GET /v1/job-types. Events stream at GET /v1/jobs/{id}/events (Server-Sent Events).',
    },
    security: [{ apiKey: [] }],
  });
  // Swagger UI's two files are served from the installed swagger-ui-dist, not a CDN: the docs
  // page works on a machine without internet, and shows the version the lockfile names.
  app.get('/docs', swaggerUI({ url: '/openapi.json', baseUrl: '/docs/assets', title: 'Spool API' }));
  app.get('/docs/assets/swagger-ui-dist/:file', async (c) => {
    const asset = DOCS_ASSETS[c.req.param('file')];
    if (!asset) throw new SpoolError('not_found', 'no such file', { status: 404 });
    return c.body(await asset.body(), 200, {
      'content-type': asset.type,
      'cache-control': 'public, max-age=86400',
    });
  });
}

/**
 * The /v1 routes served by plain handlers (an SSE stream; JSON Schemas made at request time)
 * are described here, so the document lists every /v1 path a client can call.
 */
function registerPlainRoutes(app: OpenAPIHono<AppEnv>) {
  const seq = z.string().regex(/^\d{1,9}$/);
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}/events',
    summary: "Follow a job's events (Server-Sent Events)",
    description:
      'Each event has `id: <seq>`, `event: <type>` (status, progress, step, delta, completed, failed, canceled) and `data: <json>`. Resumes after `Last-Event-ID` or `after`; closes after the terminal event.',
    request: {
      params: JobIdParam,
      query: z.object({ after: seq.optional() }),
      headers: z.object({ 'last-event-id': seq.optional() }),
    },
    responses: {
      200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } },
      204: { description: 'The job ended and the client has every event up to its terminal one' },
      ...errorResponses,
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/job-types',
    summary: 'List the job types with the JSON Schemas of their input and output',
    responses: {
      200: json(
        z.object({
          data: z.array(
            z.object({
              name: z.string(),
              description: z.string().optional(),
              input: z.record(z.string(), z.unknown()),
              output: z.record(z.string(), z.unknown()),
              retry: z.record(z.string(), z.unknown()),
              timeoutMs: z.number(),
              concurrency: z.number(),
              available: z.boolean().describe('false: this deployment cannot run the type (no pgvector for document types)'),
            }),
          ),
          nextCursor: z.null(),
        }),
        'The job types',
      ),
      ...errorResponses,
    },
  });
  const probe = { security: [], tags: ['operations'] };
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers (no key)',
    ...probe,
    responses: { 200: json(z.object({ status: z.literal('ok') }), 'Alive') },
  });
  const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: PostgreSQL and Redis answer (no key)',
    ...probe,
    responses: {
      200: json(z.object({ status: z.literal('ok'), checks: z.object({ postgres: Check, redis: Check }) }), 'Ready'),
      503: json(ErrorBody, '`not_ready`: a dependency is down (`details.checks`); see Retry-After'),
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics of this process (no key)',
    ...probe,
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
  });
}

const swaggerDist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** Read once, on first use (most processes never serve /docs). */
const lazyFile = (name: string) => {
  let read: Promise<Uint8Array<ArrayBuffer>> | undefined;
  return () => (read ??= readFile(join(swaggerDist, name)).then((b) => new Uint8Array(b)));
};
const DOCS_ASSETS: Record<string, { type: string; body: () => Promise<Uint8Array<ArrayBuffer>> }> = {
  'swagger-ui.css': { type: 'text/css; charset=utf-8', body: lazyFile('swagger-ui.css') },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: lazyFile('swagger-ui-bundle.js') },
};

const pascal = (s: string) => s.replace(/(^|-)(\w)/g, (_, __, ch: string) => ch.toUpperCase());
