/**
 * Headers an operator console needs. It may not be framed: a page of another origin on the
 * same site (another port, a sibling subdomain) could frame a job page and lure the operator
 * into clicking "Cancel job", a same-origin post that the CSRF check lets through. Content
 * types are not sniffed. The explorer's pages run their one script and load nothing from
 * elsewhere; Bull Board's UI (under /queues) brings its own scripts and styles, so there the
 * policy forbids only framing, plugins, a foreign `<base>` and forms posting elsewhere.
 */
import type { MiddlewareHandler } from 'hono';
import { LIVE_SCRIPT_HASH } from './views/index.ts';

const EVERYWHERE = "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";
// Inline styles: the layout's <style> and the bars' `style` attributes (no nonce reaches those).
const EXPLORER = `default-src 'self'; script-src ${LIVE_SCRIPT_HASH}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; ${EVERYWHERE}`;

export function securityHeaders(base: string): MiddlewareHandler {
  const board = `${base}/queues`;
  return async (c, next) => {
    await next();
    const path = c.req.path;
    const inBoard = path === board || path.startsWith(`${board}/`);
    c.header('Content-Security-Policy', inBoard ? EVERYWHERE : EXPLORER);
    c.header('X-Frame-Options', 'DENY');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
  };
}
