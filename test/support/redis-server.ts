/**
 * A private redis-server on a free loopback port, for faults that must not touch the shared
 * Redis: flush it, stop it, start it again on the same port. No persistence, so a restart
 * comes back empty (like a Redis that lost its data).
 */
import { connect } from 'node:net';
import { type Child, spawnChild } from './children.ts';
import { freePort, waitUntil } from './ports.ts';

export interface RedisServer {
  port: number;
  url: string;
  /** Starts the server (again) on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL if it lingers) and waits for the exit. */
  stop(): Promise<void>;
  /** Sends one command (e.g. `FLUSHALL`) and returns the raw reply. */
  command(...args: string[]): Promise<string>;
}

/** One command over a fresh connection, in RESP; bounded by `timeoutMs`. */
function send(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      err ? reject(err) : resolve(reply);
    };
    const timer = setTimeout(() => done(new Error(`redis on ${port}: no reply within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', done);
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) done();
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child: Child | undefined;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child && child.proc.exitCode === null && child.proc.signalCode === null) return;
      const c = spawnChild('redis-server', [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ]);
      child = c;
      await waitUntil(
        `redis-server on port ${port}`,
        async () => {
          if (c.proc.exitCode !== null) throw new Error(`redis-server exited: ${c.output()}`);
          return (await send(port, ['PING'], 500)).startsWith('+PONG') ? true : undefined;
        },
        10_000,
      );
    },
    async stop() {
      await child?.stop('SIGTERM', 5_000);
    },
    command: (...args) => send(port, args),
  };
  await server.start();
  return server;
}
