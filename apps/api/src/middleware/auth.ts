/** Tenant API keys with scopes, and the admin token. */
import { timingSafeEqual } from 'node:crypto';
import { SpoolError } from '@spool/core/errors';
import type { Scope } from '@spool/core/tenants';
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiDeps, AppEnv } from '../deps.ts';

function bearer(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}

const unauthorized = (message: string) => new SpoolError('unauthorized', message, { status: 401 });

export function requireScope(deps: ApiDeps, scope: Scope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // Several patterns can match one path (`/v1/jobs/*` also matches `/v1/jobs`): authenticate
    // and count the request against the rate limit once.
    let principal = c.get('principal');
    if (!principal) {
      const key = bearer(c.req.header('authorization'));
      if (!key) throw unauthorized('missing API key: send "Authorization: Bearer <key>"');
      principal = await deps.keys.authenticate(key);
      if (!principal) throw unauthorized('invalid or revoked API key');
      await deps.rateLimit?.consume(principal.keyId);
      c.set('principal', principal);
      c.set('tenantId', principal.tenantId);
      c.set('keyId', principal.keyId);
    }
    if (!principal.scopes.includes(scope)) {
      throw new SpoolError('forbidden', `this API key lacks the "${scope}" scope`, { status: 403 });
    }
    await next();
  };
}

/**
 * Whether the request's API key is still valid, for a stream that outlives the check at its
 * start: a key revoked meanwhile ends it (within the key cache's 10 s in other processes). A
 * failed lookup (PostgreSQL down) counts as valid: an outage is not a revocation.
 */
export async function keyStillValid(deps: ApiDeps, c: Context<AppEnv>): Promise<boolean> {
  const key = bearer(c.req.header('authorization'));
  if (!key) return false;
  return deps.keys.authenticate(key).then(
    (principal) => principal !== undefined,
    () => true,
  );
}

export function isAdminToken(expected: string | undefined, given: string | undefined): boolean {
  if (!expected || !given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function requireAdmin(deps: ApiDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token) throw unauthorized('missing admin token: send "Authorization: Bearer $SPOOL_ADMIN_TOKEN"');
    if (!isAdminToken(deps.config.adminToken, token)) {
      if (await deps.keys.authenticate(token))
        throw new SpoolError('forbidden', 'admin routes need the admin token', { status: 403 });
      throw unauthorized(deps.config.adminToken ? 'invalid admin token' : 'admin routes are off: SPOOL_ADMIN_TOKEN is not set');
    }
    await next();
  };
}
