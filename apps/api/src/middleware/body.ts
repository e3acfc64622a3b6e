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
    onError: () => {
      throw new SpoolError('payload_too_large', `the request body is larger than ${limitBytes} bytes`, { status: 413 });
    },
  });
  return [contentType, limit];
}
