/** Request bodies: JSON only (415 otherwise) and at most the configured size (413). */
import { SpoolError } from '@spool/core/errors';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function jsonBodies(limitBytes: number): MiddlewareHandler[] {
  const contentType: MiddlewareHandler = async (c, next) => {
    const length = c.req.header('content-length');
    const hasBody = (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
    if (hasBody && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      throw new SpoolError('unsupported_media_type', 'request bodies must be JSON (Content-Type: application/json)', { status: 415 });
    }
    await next();
  };
  const limit = bodyLimit({
    maxSize: limitBytes,
    onError: (c) => {
      // The rest of the body is not read, so the connection cannot carry another request: say
      // so, or the client reuses it and its next request fails ("other side closed").
      c.header('Connection', 'close');
      throw new SpoolError('payload_too_large', `the request body is larger than ${limitBytes} bytes`, { status: 413 });
    },
  });
  // A body within the limit is read before auth and routing: an answer sent with it unread
  // (401, 403, 404) leaves it on the keep-alive connection, which @hono/node-server then cuts
  // after 500 ms of draining, so the client's next request on it failed. Handlers parse it
  // from Hono's body cache.
  const readWhole: MiddlewareHandler = async (c, next) => {
    if (c.req.raw.body) await c.req.arrayBuffer();
    await next();
  };
  return [contentType, limit, readWhole];
}
