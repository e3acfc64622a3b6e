/** `respondWithSse` over real HTTP: a stream whose client is already gone starts closed. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { expect, it } from 'vitest';
import { closeServer, serveApi } from './serve.ts';
import { respondWithSse } from './sse-sink.ts';

it('ends the body of a stream whose client left before the stream began', async () => {
  let ended!: (how: string) => void;
  const outcome = new Promise<string>((r) => {
    ended = r;
  });
  const app = new Hono<{ Bindings: HttpBindings }>().get('/stream', async (c) => {
    // The route is still busy (auth, the job lookup) when the client hangs up.
    if (!c.env.outgoing.destroyed) await once(c.env.outgoing, 'close');
    return respondWithSse(c, {}, async (sink) => {
      await sink.write('data: late\n\n');
      if (!sink.closed.aborted) await new Promise((r) => sink.closed.addEventListener('abort', r));
      ended('closed');
    });
  });
  const server = await new Promise<ReturnType<typeof serveApi>>((resolve) => {
    const s = serveApi(app.fetch as never, { port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
    const client = new AbortController();
    const request = fetch(url, { signal: client.signal }).catch(() => undefined);
    setTimeout(() => client.abort(), 100);
    await request;
    const timer = setTimeout(() => ended('still open after 3 s'), 3_000);
    expect(await outcome).toBe('closed');
    clearTimeout(timer);
  } finally {
    await closeServer(server, 0);
  }
});
