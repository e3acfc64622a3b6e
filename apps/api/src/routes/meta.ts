/** Health, readiness, metrics, job types, and the OpenAPI document with its docs page. */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import { queueDepth, registry as metrics } from '@spool/core/metrics';
import { z } from 'zod';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';

const within = <T>(ms: number, p: Promise<T>) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

async function check(p: Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    await within(2_000, p);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

export function metaRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const [postgres, redis] = await Promise.all([check(deps.db.ping()), check(deps.redis.ping())]);
    const ok = postgres.ok && redis.ok;
    if (!ok) c.header('Retry-After', '5');
    return c.json({ status: ok ? 'ok' : 'unavailable', checks: { postgres, redis } }, ok ? 200 : 503);
  });

  app.get('/metrics', async (c) => {
    // Queue depth is read at scrape time, so it costs nothing between scrapes.
    await within(
      2_000,
      Promise.all(
        deps.queues.all().map(async (q) => {
          const counts = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'failed', 'completed');
          for (const [state, n] of Object.entries(counts)) queueDepth.set({ queue: q.name, state }, n);
        }),
      ),
    ).catch(() => {});
    return c.text(await metrics.metrics(), 200, { 'content-type': metrics.contentType });
  });

  app.get('/v1/job-types', requireScope(deps, 'jobs:read'), (c) =>
    c.json({
      data: deps.registry.list.map((d) => ({
        name: d.name,
        description: d.description,
        input: z.toJSONSchema(d.input, { io: 'input' }),
        output: z.toJSONSchema(d.output, { io: 'output' }),
        retry: d.retry,
        timeoutMs: d.timeoutMs,
        concurrency: d.concurrency,
      })),
    }),
  );

  for (const d of deps.registry.list) {
    app.openAPIRegistry.register(`${pascal(d.name)}Input`, d.input as never);
  }
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', { type: 'http', scheme: 'bearer' });
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
  app.get('/docs', swaggerUI({ url: '/openapi.json' }));
}

const pascal = (s: string) => s.replace(/(^|-)(\w)/g, (_, __, ch: string) => ch.toUpperCase());
