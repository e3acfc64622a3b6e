/**
 * The API on node:http. `GET /healthz` (liveness: the process answers) is served before the
 * app: orchestrators probe it every few seconds on every replica, it depends on nothing, and
 * through the app it cost 3× a bare node:http answer (routing, request id, the HTTP histogram,
 * a web Response). It is therefore absent from the HTTP metrics, but it carries an
 * `x-request-id` like every response. `/readyz` checks PostgreSQL and Redis and goes through
 * the app as usual.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { type ServerType, serve } from '@hono/node-server';
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
        createServer(options, (req: IncomingMessage, res: ServerResponse) => {
          if (req.url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
            const id = req.headers['x-request-id'];
            res.setHeader('x-request-id', requestIdFor(typeof id === 'string' ? id : undefined));
            res.writeHead(200, HEALTHY_HEADERS).end(req.method === 'GET' ? HEALTHY : undefined);
          } else app(req, res);
        })) as never,
    },
    onListening,
  );
}
