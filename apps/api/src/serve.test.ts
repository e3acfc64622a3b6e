/** `closeServer`: the API's stop on SIGTERM, over real HTTP on a free port. */
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, serveApi } from './serve.ts';
import { respondWithSse } from './sse-sink.ts';

function start(app: Hono) {
  return new Promise<{ server: ReturnType<typeof serveApi>; url: string }>((resolve) => {
    const server = serveApi(app.fetch as never, { port: 0, hostname: '127.0.0.1' }, () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    );
  });
}

describe('closeServer', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(() => stop?.());

  it('answers the requests under way, closes event streams, and takes no new connections', async () => {
    let arrived!: () => void;
    const slowArrived = new Promise<void>((r) => {
      arrived = r;
    });
    const app = new Hono()
      .post('/slow', async (c) => {
        arrived();
        await sleep(300);
        return c.json({ accepted: true }, 202);
      })
      .get('/stream', (c) =>
        respondWithSse(c, {}, async (sink) => {
          await sink.write('data: hello\n\n');
          await new Promise((r) => sink.closed.addEventListener('abort', r));
        }),
      );
    const { server, url } = await start(app);
    stop = () => closeServer(server, 0);

    const stream = await fetch(`${url}/stream`);
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('hello');
    const slow = fetch(`${url}/slow`, { method: 'POST' });
    await slowArrived;

    const closed = closeServer(server, 10_000);
    const answer = await slow;
    expect(answer.status).toBe(202);
    expect(await answer.json()).toEqual({ accepted: true });
    // The stream ends (a clean end or a reset: either way its client reconnects).
    await expect(
      reader.read().then(
        (r) => r.done,
        () => true,
      ),
    ).resolves.toBe(true);
    await closed;
    await expect(fetch(`${url}/slow`, { method: 'POST' })).rejects.toThrow();
  });

  it('closes a request that is still unanswered when the grace period ends', async () => {
    const app = new Hono().get('/hang', () => new Promise<Response>(() => {}));
    const { server, url } = await start(app);
    const hanging = fetch(`${url}/hang`);
    await sleep(100);
    await closeServer(server, 200);
    await expect(hanging).rejects.toThrow();
  });
});
