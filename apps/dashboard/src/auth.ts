/**
 * Admin-only access to the whole dashboard: the admin token as the HTTP Basic password (any
 * user name) or as a Bearer token. No credentials → 401 with `WWW-Authenticate: Basic` so a
 * browser shows its login prompt (never a redirect); a tenant API key → 403.
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export interface KeyLookup {
  authenticate(key: string): Promise<unknown>;
}

export function isAdminToken(expected: string | undefined, given: string | undefined): boolean {
  if (!expected || !given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token a request carries: Bearer, or the password of Basic. */
export function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : decoded;
}

export function requireAdminToken(adminToken: string | undefined, keys: KeyLookup): MiddlewareHandler {
  return async (c, next) => {
    const token = presentedToken(c.req.header('authorization'));
    if (token && isAdminToken(adminToken, token)) return next();
    if (token && (await keys.authenticate(token))) {
      return c.text('403 Forbidden: the dashboard needs the admin token, not a tenant API key\n', 403);
    }
    c.header('WWW-Authenticate', 'Basic realm="Spool dashboard", charset="UTF-8"');
    c.header('Cache-Control', 'no-store');
    const why = adminToken ? 'send the admin token as the Basic password or as a Bearer token' : 'SPOOL_ADMIN_TOKEN is not set';
    return c.text(`401 Unauthorized: ${why}\n`, 401);
  };
}
