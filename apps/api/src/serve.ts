/**
 * The API on node:http. `GET /healthz` (liveness: the process answers) is served before the
 * app: orchestrators probe it every few seconds on every replica, it depends on nothing, and
 * through the app it cost 3× a bare node:http answer (routing, request id, the HTTP histogram,
 * a web Response). It is therefore absent from the HTTP metrics, but it carries an
 * `x-request-id` like every response. `/readyz` checks PostgreSQL and Redis and goes through
 * the app as usual.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { getRequestListener } from '@hono/node-server';
import { errorBody } from './middleware/errors.ts';
import { requestIdFor } from './middleware/observe.ts';
import { openStreams } from './sse-sink.ts';

const HEALTHY = JSON.stringify({ status: 'ok' });
const HEALTHY_HEADERS = {
  'content-type': 'application/json',
  'content-length': Buffer.byteLength(HEALTHY),
  'cache-control': 'no-store',
};

export function serveApi(
  fetch: (request: Request, env: never) => Response | Promise<Response>,
  opts: { port: number; hostname?: string | undefined },
  onListening?: (info: { port: number }) => void,
): Server {
  const app = getRequestListener(fetch as never, {
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
    // A request node:http parsed but no URL can be made of (a backslash in the path, a bad
    // Host header, `OPTIONS *`): the adapter's own answer is a bare 400 without a body.
    errorHandler: () =>
      Response.json(errorBody('bad_request', 'the request URL or its Host header is not valid'), {
        status: 400,
        headers: { 'x-request-id': requestIdFor(undefined) },
      }),
  }) as RequestListener;
  const server = withClientErrors(
    createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        const id = req.headers['x-request-id'];
        res.setHeader('x-request-id', requestIdFor(typeof id === 'string' ? id : undefined));
        res.writeHead(200, HEALTHY_HEADERS).end(req.method === 'GET' ? HEALTHY : undefined);
      } else app(req, res);
    }),
  );
  server.listen(opts.port, opts.hostname, () => onListening?.(server.address() as { port: number }));
  return server;
}

/**
 * A graceful stop (SIGTERM): takes no new connections, lets the requests under way get their
 * answers for up to `graceMs` (a submit whose row is committed still gets its 202, so its
 * client does not submit it twice), then closes every connection left. Event streams do not
 * hold the stop up: they are closed at once, and their clients resume elsewhere with
 * Last-Event-ID. Node knows which connections are idle; a listener per request to track the
 * busy ones cost a fifth of the API's CPU per submit.
 */
export async function closeServer(server: Server, graceMs: number): Promise<void> {
  let done = false;
  const closed = new Promise<void>((resolve) => server.close(() => resolve())).then(() => {
    done = true;
  });
  for (const res of openStreams) res.destroy(); // the process's streams: one API server per process
  const deadline = Date.now() + graceMs;
  // A keep-alive connection goes idle when its answer is sent: close it then.
  while (!done && Date.now() < deadline) {
    server.closeIdleConnections();
    await sleep(20);
  }
  server.closeAllConnections();
  await closed;
}

/**
 * A request node:http cannot parse (a bad header line, a malformed Content-Length, headers
 * over the limit) never reaches the app: Node's default answer is a bare 400 with no body.
 * Answer it like any other error, with the error envelope and an `x-request-id`.
 */
function withClientErrors<T extends Server>(server: T): T {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify(
      tooLarge
        ? errorBody('headers_too_large', 'the request headers are over the limit')
        : errorBody('bad_request', 'the request is not valid HTTP'),
    );
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestIdFor(undefined)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
