/**
 * A slow subscriber never slows the workers and never grows server memory without bound:
 * past the buffer cap (SPOOL_SSE_BUFFER_EVENTS, 50 here) it is disconnected, and it resumes
 * by Last-Event-ID without losing an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsOf, openRaw, type SseEvent, sequenceProblem, trackedEventSource, until } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { hasPython, stalledReader } from '../support/stalled-reader.ts';

const CAP = 50;

/** A counter or gauge from the API's /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('SSE: slow subscribers', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;

  beforeAll(async () => {
    stack = await startStack({ sseBufferEvents: CAP });
    apiKey = (await stack.tenant()).apiKey;
    api = client(stack.url, apiKey);
  });
  afterAll(() => stack?.close());

  it.skipIf(!hasPython())(
    'a client that stops reading is disconnected past the cap while the job runs on, and resumes by Last-Event-ID',
    async () => {
      // ~3,000 events of ~100 bytes: far more than the stalled connection's buffers hold.
      const steps = 1_000;
      const total = 2 + steps * 3 + 1;
      const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 0 } });
      const id = res.body.id;
      const slowBefore = await metric(stack.url, 'spool_sse_slow_disconnects_total');

      const reader = stalledReader(stack.url, apiKey, `/v1/jobs/${id}/events`);
      try {
        await reader.sent;
        await until(() => stack.api.hub.channels === 1, 10_000, 'the subscription');
        // The client reads nothing; its window fills, the server's writes block, and live
        // events pile up past the cap: the server drops the subscriber on its own, while the
        // job is still running.
        await until(() => stack.api.hub.channels === 0, 20_000, 'the server to drop the stalled subscriber');
        const atDrop = await api.get(id);
        expect(atDrop.body.status).toBe('running');
        expect(await metric(stack.url, 'spool_sse_slow_disconnects_total')).toBe(slowBefore + 1);
        await until(async () => (await metric(stack.url, 'spool_sse_subscribers')) === 0, 5_000, 'no open stream');

        // The stalled subscriber did not hold the worker back: the job finishes while the
        // client still has not read a byte.
        const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
        expect(job.status).toBe('completed');

        // What reached the client before the drop: a gapless prefix, then the connection ends.
        const got = await reader.resume();
        expect(got.status).toBe(200);
        expect(got.cleanEnd).toBe(false);
        const first = eventsOf(got.frames);
        expect(first.length).toBeGreaterThan(0);
        expect(first.length).toBeLessThan(total - CAP);
        expect(sequenceProblem(first.map((e) => e.id))).toBe('');

        // Resume from the last event received: the rest, once each, terminal last.
        const last = first.at(-1)!.id;
        const s = await openRaw(stack.url, apiKey, id, { lastEventId: last });
        expect(s.status).toBe(200);
        const rest = await s.events(undefined, 30_000);
        s.close();
        const all: SseEvent[] = [...first, ...rest];
        expect(
          sequenceProblem(
            all.map((e) => e.id),
            1,
            total,
          ),
        ).toBe('');
        expect(all.at(-1)).toMatchObject({ id: total, event: 'completed', data: { result: { steps } } });
      } finally {
        reader.kill();
      }
    },
    90_000,
  );

  it('an EventSource under the same cap sees every event exactly once, whether or not it is dropped on the way', async () => {
    const steps = 300;
    const total = 2 + steps * 3 + 1;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 0 } });
    const id = res.body.id;
    const t = trackedEventSource(`${stack.url}/v1/jobs/${id}/events`, apiKey, { retryMs: 100 });
    try {
      await until(() => t.received.some((e) => e.event === 'completed'), 60_000, 'the completed event');
    } finally {
      t.es.close();
    }
    expect(
      sequenceProblem(
        t.received.map((e) => e.id),
        1,
        total,
      ),
    ).toBe('');
    // Every reconnect (if any) carried the last id received before it.
    for (const [i, r] of t.requests.entries()) {
      if (i === 0) expect(r.lastEventId).toBeNull();
      else expect(Number(r.lastEventId)).toBe(t.received.filter((e) => e.conn < i).at(-1)!.id);
    }
  });
});
