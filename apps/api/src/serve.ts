/**
 * The API on node:http. `GET /healthz` (liveness: the process answers) is served before the
 * app: orchestrators probe it every few seconds on every replica, it depends on nothing, and
 * through the app it cost 3× a bare node:http answer (routing, request id, the HTTP histogram,
 * a web Response). It is therefore absent from the HTTP metrics. `/readyz` checks PostgreSQL
 * and Redis and goes through the app as usual.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { type ServerType, serve } from '@hono/node-server';

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
            res.writeHead(200, HEALTHY_HEADERS).end(req.method === 'GET' ? HEALTHY : undefined);
          } else app(req, res);
        })) as never,
    },
    onListening,
  );
}
