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
import { type ServerType, serve } from '@hono/node-server';
import { errorBody } from './middleware/errors.ts';
import { requestIdFor } from './middleware/observe.ts';

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
): ServerType {
  return serve(
    {
      fetch: fetch as never,
      port: opts.port,
      ...(opts.hostname ? { hostname: opts.hostname } : {}),
      createServer: ((options: object, app: RequestListener) =>
        withClientErrors(
          createServer(options, (req: IncomingMessage, res: ServerResponse) => {
            if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
              const id = req.headers['x-request-id'];
              res.setHeader('x-request-id', requestIdFor(typeof id === 'string' ? id : undefined));
              res.writeHead(200, HEALTHY_HEADERS).end(req.method === 'GET' ? HEALTHY : undefined);
            } else app(req, res);
          }),
        )) as never,
    },
    onListening,
  );
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
