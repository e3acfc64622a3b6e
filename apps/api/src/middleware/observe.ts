/** Request id on every response, and the HTTP duration histogram by route template. */
import { randomUUID } from 'node:crypto';
import { httpRequestDuration } from '@spool/core/metrics';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../deps.ts';

const VALID_ID = /^[\w.:-]{1,128}$/;

export const observe: MiddlewareHandler<AppEnv> = async (c, next) => {
  const incoming = c.req.header('x-request-id');
  const id = incoming && VALID_ID.test(incoming) ? incoming : randomUUID();
  c.set('requestId', id);
  const start = performance.now();
  try {
    await next();
  } finally {
    c.res.headers.set('x-request-id', id);
    httpRequestDuration.observe(
      { route: c.req.routePath || 'unmatched', method: c.req.method, status: String(c.res.status) },
      (performance.now() - start) / 1000,
    );
  }
};
