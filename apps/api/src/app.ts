/**
 * The HTTP app: `createApp(deps)` builds it with no I/O of its own, so tests drive it with
 * `app.request()` and main.ts serves it.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { HTTPException } from 'hono/http-exception';
import { timeout } from 'hono/timeout';
import type { ApiDeps, AppEnv } from './deps.ts';
import { jsonBodies } from './middleware/body.ts';
import { errorBody, sendError, validationFailed } from './middleware/errors.ts';
import { observe } from './middleware/observe.ts';
import { adminRoutes } from './routes/admin.ts';
import { budgetRoutes } from './routes/budgets.ts';
import { documentRoutes } from './routes/documents.ts';
import { eventRoutes } from './routes/events.ts';
import { jobRoutes } from './routes/jobs.ts';
import { metaRoutes } from './routes/meta.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { traceRoutes } from './routes/trace.ts';
import { usageRoutes } from './routes/usage.ts';
import { webhookRoutes } from './routes/webhooks.ts';

/**
 * The bound on a /v1 request. postgres.js has no query timeout: a PostgreSQL that stops
 * answering without closing the connection (a network partition, a hung server) would hold a
 * request, and its client, for ever. Past this bound the client gets 503 + Retry-After like
 * any other outage. 8 s: above the Redis add bound (3 s, which a submit spends when Redis is
 * down) with room for a slow but live database. The work may still finish behind the 503 (a
 * submit's row may commit), as with any timeout: idempotency keys make the retry safe.
 * An SSE stream is not cut by it: its handler returns as soon as the stream starts.
 */
export const REQUEST_DEADLINE_MS = 8_000;

export function createApp(deps: ApiDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // Schema failures of bodies, params and queries: 422 with the zod issues.
    defaultHook: (result, c) => {
      if (result.success) return;
      const e = validationFailed(result.error.issues);
      return c.json(errorBody(e.code, e.message, e.details), 422);
    },
  });

  app.use('*', observe(deps.log));
  app.use(
    '/v1/*',
    timeout(
      REQUEST_DEADLINE_MS,
      () => new HTTPException(503, { message: 'PostgreSQL or Redis did not answer in time; try again shortly' }),
    ),
  );
  app.use('/v1/*', ...jsonBodies(deps.config.bodyLimitBytes));
  metaRoutes(deps, app);
  adminRoutes(deps, app);
  eventRoutes(deps, app);
  webhookRoutes(deps, app);
  jobRoutes(deps, app);
  traceRoutes(deps, app);
  usageRoutes(deps, app);
  budgetRoutes(deps, app);
  scheduleRoutes(deps, app);
  documentRoutes(deps, app);

  const allowed = allowedMethods(app);
  app.notFound((c) => {
    const methods = allowed(c.req.path);
    if (methods.length === 0) return c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404);
    c.header('Allow', methods.join(', '));
    return c.json(errorBody('method_not_allowed', `${c.req.path} answers ${methods.join(', ')}, not ${c.req.method}`), 405);
  });
  app.onError((err, c) => sendError(c, err, deps.log));
  return app;
}

/**
 * The methods the app answers on a path, for a 405's `Allow` (HEAD wherever GET is): a client
 * that sends DELETE to a job must not read "not found" as "no such job". Routes with a wildcard
 * are middleware (scope checks), not answers, and are left out.
 */
function allowedMethods(app: OpenAPIHono<AppEnv>): (path: string) => string[] {
  let routes: { method: string; pattern: RegExp }[] | undefined;
  return (path) => {
    routes ??= app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => ({
        method: r.method,
        pattern: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`),
      }));
    const methods = new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

export { SpoolError };
