/**
 * Per-tenant delivery concurrency: tenant A's receiver hangs with many of A's deliveries
 * pending, and tenant B's webhook still goes out at once. The worker has fewer delivery slots
 * than A has deliveries, so without the per-tenant cap A's hangs would hold every slot and B
 * would wait for A's hang to end.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/ports.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

const WORKER_SLOTS = 4;
const TENANT_CAP = 2;
const A_DELIVERIES = 8;
/** How long A's receiver holds each request: longer than the test waits for B, shorter than the timeout. */
const HANG_MS = 12_000;
const TIMEOUT_MS = 20_000;

/**
 * A receiver that holds every request for `HANG_MS` and counts requests open at once. The
 * shared receiver (support/webhook-receiver.ts) hangs forever and keeps no such count.
 */
async function startSlowReceiver() {
  const state = { open: 0, maxOpen: 0, received: 0, answered: 0, firstAt: 0 };
  const pending = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    state.received++;
    state.firstAt ||= Date.now();
    pending.add(res);
    // Counted until the socket goes, whether answered or given up by the sender.
    res.on('close', () => {
      state.open--;
      pending.delete(res);
    });
    req.resume();
    setTimeout(() => {
      if (res.writableEnded || res.destroyed) return;
      state.answered++;
      res.writeHead(200).end('ok');
    }, HANG_MS).unref();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    state,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('per-tenant webhook delivery concurrency', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      webhooks: { concurrency: WORKER_SLOTS, tenantConcurrency: TENANT_CAP, timeoutMs: TIMEOUT_MS, retryDelaysMs: [0, 100, 200] },
    });
  });
  afterAll(() => stack?.close());

  it("delivers tenant B's webhook promptly while A's receiver hangs, and A never exceeds its cap", async () => {
    const ta = await stack.tenant('a');
    const tb = await stack.tenant('b');
    const a = client(stack.url, ta.apiKey);
    const b = client(stack.url, tb.apiKey);
    const slowA = await startSlowReceiver();
    const rxB = await startReceiver(() => tb.webhookSecret);
    try {
      for (let i = 0; i < A_DELIVERIES; i++) {
        const res = await a.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: slowA.url } });
        expect(res.status).toBeLessThan(300);
      }
      await waitUntil(
        'A to hold its cap of deliveries',
        async () => (slowA.state.open >= TENANT_CAP ? true : undefined),
        20_000,
        25,
      );
      // Give A's other deliveries time to try for a slot (they are re-delayed 250–500 ms at a time).
      await new Promise((r) => setTimeout(r, 1_500));
      expect(slowA.state.open).toBe(TENANT_CAP);

      const submittedB = Date.now();
      const jobB = (await b.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rxB.url } })).body;
      const [got] = await rxB.waitFor(1, 8_000);
      expect(got!.verified).toBe(true);
      expect(JSON.parse(got!.body)).toMatchObject({ type: 'job.completed', data: { id: jobB.id } });
      // Promptly, and well before A's hang ends: no slot A held was freed for B.
      expect(got!.at - submittedB).toBeLessThan(5_000);
      expect(got!.at).toBeLessThan(slowA.state.firstAt + HANG_MS - 3_000);
      expect(slowA.state.answered).toBe(0);
      // A still has deliveries waiting for a slot, and never had more than its cap in flight.
      expect(slowA.state.received).toBeLessThan(A_DELIVERIES);
      expect(slowA.state.maxOpen).toBe(TENANT_CAP);
    } finally {
      // Close the receivers first: the worker's close waits for deliveries in flight.
      await slowA.close();
      await rxB.close();
    }
  });
});
