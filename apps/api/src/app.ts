/**
 * The HTTP app: `createApp(deps)` builds it with no I/O of its own, so tests drive it with
 * `app.request()` and main.ts serves it.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import type { ApiDeps, AppEnv } from './deps.ts';
import { jsonBodies } from './middleware/body.ts';
import { errorBody, sendError } from './middleware/errors.ts';
import { observe } from './middleware/observe.ts';
import { adminRoutes } from './routes/admin.ts';
import { eventRoutes } from './routes/events.ts';
import { jobRoutes } from './routes/jobs.ts';
import { metaRoutes } from './routes/meta.ts';

export function createApp(deps: ApiDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // Schema failures of bodies, params and queries: 422 with the zod issues.
    defaultHook: (result, c) => {
      if (result.success) return;
      const issues = result.error.issues.map((i) => ({ path: i.path, message: i.message }));
      const first = issues[0];
      const message = first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid request';
      return c.json(errorBody('validation_failed', message, issues), 422);
    },
  });

  app.use('*', observe);
  app.use('/v1/*', ...jsonBodies(deps.config.bodyLimitBytes));
  metaRoutes(deps, app);
  adminRoutes(deps, app);
  eventRoutes(deps, app);
  jobRoutes(deps, app);

  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => sendError(c, err, deps.log));
  return app;
}

export { SpoolError };
