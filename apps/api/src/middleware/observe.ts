/**
 * Request id on every response, the HTTP duration histogram by route pattern, and one JSON log
 * line per request (request id, tenant, route, status, duration; never a body or a header).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from '@spool/core/logger';
import { httpRequestDuration } from '@spool/core/metrics';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from '../deps.ts';

const VALID_ID = /^[\w.:-]{1,128}$/;
// Scrapes and probes come every few seconds: logged at debug so they don't drown the rest.
const QUIET = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * The route pattern of the endpoint (`/v1/jobs/:id`), never the raw path: raw paths carry ids,
 * which would make one series per job. The endpoint is the first matched route registered for
 * a method with no wildcard (middleware is registered for ALL, or for a method on `/v1/jobs/*`),
 * so a request that auth stops with 401 is still counted under its endpoint. No endpoint (a
 * 404) → `unmatched`, which bounds the series a scanner can add.
 */
export function routeLabel(c: Context): string {
  const endpoints = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  return (endpoints.find((r) => !r.path.includes('*')) ?? endpoints.at(-1))?.path ?? 'unmatched';
}

/** The client's `x-request-id` if it is a sane one, else a fresh id. */
export const requestIdFor = (incoming: string | undefined): string =>
  incoming && VALID_ID.test(incoming) ? incoming : randomUUID();

/** The API's outermost middleware; `log` gets one line per request. */
export function observe(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = requestIdFor(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    // Under node:http the id goes on the socket's response at once: setting it on the web
    // Response afterwards made @hono/node-server build a Headers object and take its slow
    // path for every answer. `app.request()` (tests) has no socket: the Response carries it.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    outgoing?.setHeader('x-request-id', requestId);
    const start = performance.now();
    try {
      await next();
    } finally {
      if (!outgoing) c.res.headers.set('x-request-id', requestId);
      const route = routeLabel(c);
      const status = c.res.status;
      const seconds = (performance.now() - start) / 1000;
      httpRequestDuration.observe({ route, method: c.req.method, status: String(status) }, seconds);
      const jobId = jobIdOf(route, c.req.path);
      const line = {
        requestId,
        tenantId: c.get('tenantId'),
        jobId,
        method: c.req.method,
        route,
        status,
        ms: Math.round(seconds * 1000),
      };
      if (status >= 500) log.warn(line, 'request failed');
      else if (QUIET.has(route)) log.debug(line, 'request');
      else log.info(line, 'request');
    }
  };
}

/**
 * The `:id` of a per-job route, read from the path (the handler's params are not there when
 * auth stopped the request first). Capped: it is client input until a route validated it.
 */
function jobIdOf(route: string, path: string): string | undefined {
  const at = route.split('/').indexOf(':id');
  if (at < 0 || !route.includes('/jobs/')) return undefined;
  return path.split('/')[at]?.slice(0, 64) || undefined;
}
