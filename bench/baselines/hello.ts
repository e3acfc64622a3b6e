/** Baseline: raw node:http hello-world, the ceiling for any Node HTTP route on this machine. */
import { createServer } from 'node:http';
import { send } from './common.ts';

const body = JSON.stringify({ status: 'ok' });
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (server.address() as { port: number }).port }));
