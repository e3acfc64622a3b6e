/**
 * postWebhook against receivers that misbehave at the HTTP level (raw TCP servers on loopback):
 * every attempt settles within its timeout, and an answer counts when its headers arrive.
 */
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postWebhook } from './post.ts';
import type { CheckedTarget } from './ssrf.ts';

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A TCP server that answers the first bytes of a request with `reply`, then closes after `closeAfterMs`. */
async function rawReceiver(reply: string, closeAfterMs?: number): Promise<URL> {
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write(reply);
      if (closeAfterMs !== undefined) setTimeout(() => socket.end(), closeAfterMs);
    });
  });
  return listen(server);
}

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<URL> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: () => {
      (server as ReturnType<typeof createHttpServer>).closeAllConnections?.();
      server.close();
    },
  });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
}

const post = (url: URL, addresses: CheckedTarget['addresses'] = [{ address: '127.0.0.1', family: 4 }]) =>
  postWebhook({ url, addresses }, {}, '{}', 500);

const UPGRADE = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n';

describe('postWebhook', () => {
  it('a 101 Switching Protocols is a failed attempt, whether the receiver keeps the socket open or closes it', async () => {
    for (const closeAfter of [undefined, 100]) {
      const r = await post(await rawReceiver(UPGRADE, closeAfter));
      expect(r).toMatchObject({ statusCode: 101, error: 'the receiver switched protocols (101)' });
      expect(r.latencyMs).toBeLessThan(500);
    }
  });

  it('a connection closed without an answer, an early hint and nothing more, garbage: each settles within the timeout', async () => {
    const closed = await post(await rawReceiver('', 50));
    expect(closed.statusCode).toBeUndefined();
    expect(closed.error).toBeTruthy();
    const hinted = await post(await rawReceiver('HTTP/1.1 103 Early Hints\r\n\r\n'));
    expect(hinted).toMatchObject({ error: 'timed out after 500 ms' });
    const garbage = await post(await rawReceiver('NOT HTTP\r\n\r\n'));
    expect(garbage.statusCode).toBeUndefined();
    expect(garbage.error).toBeTruthy();
  });

  it('a 200 whose body keeps coming is a 200: the answer counts when its headers arrive', async () => {
    const url = await listen(
      createHttpServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        const trickle = setInterval(() => res.write('x'.repeat(1024)), 20);
        res.on('close', () => clearInterval(trickle));
      }),
    );
    const r = await post(url);
    expect(r).toMatchObject({ statusCode: 200, retryAfter: null });
    expect(r.error).toBeUndefined();
  });

  it('reads at most 64 KiB of an answer body: a receiver sending 64 MiB is cut off', async () => {
    let sent = 0;
    let finished = false;
    let cut!: () => void;
    const closed = new Promise<void>((r) => (cut = r));
    const url = await listen(
      createHttpServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024);
        const pump = () => {
          while (sent < 64 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        res.on('finish', () => (finished = true));
        res.on('close', () => cut());
        pump();
      }),
    );
    expect((await post(url)).statusCode).toBe(200);
    await closed;
    // Cut off after the first 64 KiB, not after reading all of it (the socket's buffers hold a few MiB).
    expect(finished).toBe(false);
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  });

  it('falls back to the next approved address when the first does not answer', async () => {
    const url = await listen(
      createHttpServer((req, res) => {
        req.resume();
        res.writeHead(204).end();
      }),
    );
    // ::1 first, as a dual-stack name resolves: nothing listens there.
    const r = await post(url, [
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 },
    ]);
    expect(r).toMatchObject({ statusCode: 204 });
  });
});
