/** Request bodies: JSON only (415 otherwise) and at most the configured size (413). */
import type { IncomingMessage } from 'node:http';
import { SpoolError } from '@spool/core/errors';
import type { Context, MiddlewareHandler } from 'hono';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function jsonBodies(limitBytes: number): MiddlewareHandler[] {
  const contentType: MiddlewareHandler = async (c, next) => {
    if (hasBody(c)) {
      if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) throw unsupportedMediaType();
    } else if (!JSON_TYPE.test(c.req.header('content-type') ?? 'application/json')) {
      // No body, so a type other than JSON says nothing (SPEC: only a non-empty body of another
      // type is a 415), but the OpenAPI routes' own media-type gate would refuse it: drop it.
      // An empty body typed as JSON stays, and is the 400 of any malformed JSON.
      c.req.raw.headers.delete('content-type');
    }
    await next();
  };
  // A body within the limit is read whole before auth and routing: an answer sent with it
  // unread (401, 403, 404) leaves it on the keep-alive connection, which @hono/node-server
  // then cuts after 500 ms of draining, so the client's next request on it failed. Handlers
  // parse it from Hono's body cache.
  const readWhole: MiddlewareHandler = async (c, next) => {
    if (hasBody(c)) {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      // Under @hono/node-server the body is read from the socket's stream directly: asking
      // Hono for it makes the adapter build a full web Request (a ReadableStream, an
      // AbortSignal, undici's body machinery), which cost ~15% of a submit's CPU.
      const text = incoming ? await readIncoming(c, incoming, limitBytes) : await readRequest(c, limitBytes);
      (c.req.bodyCache as { text?: Promise<string> }).text = Promise.resolve(text);
    }
    await next();
  };
  return [contentType, readWhole];
}

export const unsupportedMediaType = () =>
  new SpoolError('unsupported_media_type', 'request bodies must be JSON (Content-Type: application/json)', { status: 415 });

function hasBody(c: Context): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

function tooLarge(c: Context, limitBytes: number): SpoolError {
  // The rest of the body is not read, so the connection cannot carry another request: say
  // so, or the client reuses it and its next request fails ("other side closed").
  c.header('Connection', 'close');
  return new SpoolError('payload_too_large', `the request body is larger than ${limitBytes} bytes`, { status: 413 });
}

function readIncoming(c: Context, incoming: IncomingMessage, limitBytes: number): Promise<string> {
  if (Number(c.req.header('content-length') ?? 0) > limitBytes) return Promise.reject(tooLarge(c, limitBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        incoming.pause();
        reject(tooLarge(c, limitBytes));
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new SpoolError('bad_request', `the request body could not be read: ${err.message}`, { status: 400 }));
    };
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}

/** Outside node-server (`app.request()` in tests): the web Request's stream, bounded the same way. */
async function readRequest(c: Context, limitBytes: number): Promise<string> {
  const body = c.req.raw.body;
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limitBytes) throw tooLarge(c, limitBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
