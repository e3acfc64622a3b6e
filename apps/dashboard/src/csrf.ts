/**
 * CSRF protection for a dashboard behind HTTP Basic: a browser re-sends Basic credentials on
 * every request to the origin, including a form another site posts there. So every request
 * that changes something (any method but GET, HEAD, OPTIONS) must prove it comes from a page
 * of the dashboard's own origin:
 * - `Sec-Fetch-Site: same-origin` (set by the browser; a page cannot forge it), or, from
 *   browsers without Fetch Metadata,
 * - an `Origin` whose host is the request's `Host` (or `X-Forwarded-Host` behind a proxy:
 *   a cross-site form cannot set either header).
 * A request with a Bearer token is exempt: a browser never attaches one on its own, so only a
 * script that holds the token (curl, a test) can send it. A Basic request with neither header
 * is refused (every current browser sends one of them on a POST).
 *
 * Why not `hono/csrf`: it compares Origin with the URL the app sees, which behind a TLS proxy
 * (http inside, https outside) never matches, and it does not exempt Bearer requests.
 */
import { SpoolError } from '@spool/core/errors';
import type { MiddlewareHandler } from 'hono';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function sameOriginWrites(): MiddlewareHandler {
  return async (c, next) => {
    if (SAFE.has(c.req.method)) return next();
    if (/^Bearer\s/i.test(c.req.header('authorization') ?? '')) return next();
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined) {
      if (site === 'same-origin') return next();
      throw refused(`Sec-Fetch-Site is "${site}"`);
    }
    const origin = c.req.header('origin');
    const host = c.req.header('x-forwarded-host')?.split(',')[0]?.trim() || c.req.header('host');
    if (!origin || origin === 'null') throw refused('the request has no Origin header');
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      throw refused(`Origin "${origin}" is not a URL`);
    }
    if (host && originHost.toLowerCase() === host.toLowerCase()) return next();
    throw refused(`Origin ${origin} is not this dashboard (${host ?? 'no Host'})`);
  };
}

const refused = (why: string) =>
  new SpoolError(
    'csrf_rejected',
    `cross-site request refused: ${why}; use the dashboard's own pages, or a Bearer token from a script`,
    {
      status: 403,
    },
  );
