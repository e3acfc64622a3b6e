/**
 * GET /v1/jobs/:id/events over real HTTP, with a real worker, Redis and PostgreSQL: a live
 * follow by an EventSource client, resumption by Last-Event-ID and `?after=`, late
 * subscribers, tenant isolation and retries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEvents } from '../support/sse.ts';
import { openRaw, type SseEvent, sequenceProblem, trackedEventSource, until } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

/** queued, running, then per step: step running, step completed, progress; then completed. */
const eventCount = (steps: number) => 2 + steps * 3 + 1;

const ids = (events: SseEvent[]) => events.map((e) => e.id);

/** The ordered stream a debug-steps job that runs once must produce. */
function expectDebugStepsHistory(events: SseEvent[], steps: number) {
  expect(sequenceProblem(ids(events), 1, eventCount(steps))).toBe('');
  expect(events[0]).toMatchObject({ event: 'status', data: { status: 'queued' } });
  expect(events[1]).toMatchObject({ event: 'status', data: { status: 'running', attempt: 1 } });
  for (let i = 1; i <= steps; i++) {
    const [run, done, progress] = events.slice(2 + (i - 1) * 3, 2 + i * 3);
    expect(run).toMatchObject({ event: 'step', data: { name: `step-${i}`, status: 'running' } });
    expect(done).toMatchObject({ event: 'step', data: { name: `step-${i}`, status: 'completed' } });
    expect(progress).toMatchObject({ event: 'progress', data: { pct: Math.round((i / steps) * 10_000) / 100 } });
  }
  expect(events.at(-1)).toMatchObject({ id: eventCount(steps), event: 'completed', data: { result: { steps } } });
  // Only the terminal event is terminal.
  expect(events.filter((e) => ['completed', 'failed', 'canceled'].includes(e.event))).toHaveLength(1);
}

describe('SSE: following a job', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;
  const sources: { es: { close(): void } }[] = [];
  const eventsUrl = (id: string) => `${stack.url}/v1/jobs/${id}/events`;

  beforeAll(async () => {
    stack = await startStack();
    apiKey = (await stack.tenant('sse-a')).apiKey;
    api = client(stack.url, apiKey);
  });
  afterAll(async () => {
    for (const s of sources) s.es.close();
    await stack?.close();
  });

  it('an EventSource follows a job live: ids 1..N once each, in order, terminal last, then the server closes', async () => {
    const steps = 6;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 150 } });
    expect(res.status).toBe(202);
    const id = res.body.id;
    const t = trackedEventSource(eventsUrl(id), apiKey);
    sources.push(t);

    await until(() => t.received.some((e) => e.event === 'completed'), 30_000, 'the completed event');
    const job = await api.get(id);
    expect(job.body.status).toBe('completed');
    expectDebugStepsHistory(t.received, steps);
    expect(new Set(t.received.map((e) => e.event))).toEqual(new Set(['status', 'step', 'progress', 'completed']));
    expect(t.received.every((e) => e.conn === 0)).toBe(true);

    // The server ends the stream after the terminal event: the client sees the end (an error
    // while it is reconnecting), reconnects with Last-Event-ID = the terminal id, gets 204 and stops.
    await until(() => t.es.readyState === t.es.CLOSED, 10_000, 'the EventSource to be closed by a 204');
    expect(t.requests).toEqual([
      { lastEventId: null, status: 200 },
      { lastEventId: String(eventCount(steps)), status: 204 },
    ]);
    expect(t.errors[0]).toMatchObject({ readyState: t.es.CONNECTING });
    expect(t.errors.at(-1)).toMatchObject({ code: 204 });
    expect(t.received).toHaveLength(eventCount(steps));
  });

  it('receives events while the job runs, not only at the end', async () => {
    const steps = 6;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 150 } });
    const id = res.body.id;
    const seenWhileRunning: string[] = [];
    const t = trackedEventSource(eventsUrl(id), apiKey, {
      onEvent: (e) => {
        if (e.event === 'step') seenWhileRunning.push(`${e.data.name}:${e.data.status}`);
      },
    });
    sources.push(t);
    // Step 2 has been reported running while the job is not finished yet.
    await until(() => seenWhileRunning.includes('step-2:running'), 20_000, 'step-2 running');
    const mid = await api.get(id);
    expect(mid.body.status).toBe('running');
    await until(() => t.received.some((e) => e.event === 'completed'), 30_000, 'the completed event');
    expectDebugStepsHistory(t.received, steps);
    t.es.close();
  });

  it('the EventSource reconnects by itself after a network drop, with Last-Event-ID: every event exactly once', async () => {
    const steps = 10;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 150 } });
    const id = res.body.id;
    const dropAfter = 4;
    // retryMs shortens the client's reconnect delay (3 s by default) so it reconnects mid-job.
    const t = trackedEventSource(eventsUrl(id), apiKey, { dropFirstAfter: dropAfter, retryMs: 200 });
    sources.push(t);

    await until(() => t.received.some((e) => e.event === 'completed'), 30_000, 'the completed event');
    t.es.close();
    expectDebugStepsHistory(t.received, steps);
    expect(t.requests[0]).toEqual({ lastEventId: null, status: 200 });
    expect(t.requests[1]).toEqual({ lastEventId: String(dropAfter), status: 200 });
    expect(t.received.filter((e) => e.conn === 0).map((e) => e.id)).toEqual([1, 2, 3, 4]);
    const second = t.received.filter((e) => e.conn === 1);
    expect(second[0]!.id).toBe(dropAfter + 1);
    expect(second.at(-1)!.event).toBe('completed');
    // The reconnect happened while the job was still running (it then went live again).
    expect(second.some((e) => e.event === 'step' && e.data.status === 'running')).toBe(true);
  });

  it('resumes mid-job by Last-Event-ID and by ?after= across three connections, with no gap and no duplicate', async () => {
    const steps = 10;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 150 } });
    const id = res.body.id;

    const first = await openRaw(stack.url, apiKey, id);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const a = await first.events((e) => e.id >= 5);
    first.close();

    const second = await openRaw(stack.url, apiKey, id, { lastEventId: a.at(-1)!.id });
    expect(second.status).toBe(200);
    const b = await second.events((e) => e.id >= 14);
    second.close();
    // The second connection started mid-job.
    expect((await api.get(id)).body.status).toBe('running');

    const third = await openRaw(stack.url, apiKey, id, { after: b.at(-1)!.id });
    expect(third.status).toBe(200);
    const c = await third.events();
    third.close();

    expect(ids(a)).toEqual([1, 2, 3, 4, 5]);
    expect(b[0]!.id).toBe(6);
    expect(c[0]!.id).toBe(b.at(-1)!.id + 1);
    expectDebugStepsHistory([...a, ...b, ...c], steps);
  });

  it('a subscriber after the end gets the whole history and the terminal event; the terminal id answers 204', async () => {
    const steps = 4;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 0 } });
    const id = res.body.id;
    await api.waitFor(id);
    const n = eventCount(steps);

    // readEvents returns when the server closes the stream (it throws on a timeout).
    const all = await readEvents(stack.url, apiKey, id);
    expectDebugStepsHistory(all, steps);
    // The same again: replay is repeatable and equal to what a live follower saw.
    expect(await readEvents(stack.url, apiKey, id)).toEqual(all);

    // From the middle: the rest, terminal last.
    const tail = await readEvents(stack.url, apiKey, id, { lastEventId: n - 3 });
    expect(tail).toEqual(all.slice(n - 3));
    expect(await readEvents(stack.url, apiKey, id, { after: n - 1 })).toEqual([all.at(-1)]);

    for (const opts of [{ lastEventId: n }, { after: n }, { lastEventId: n + 5 }]) {
      const s = await openRaw(stack.url, apiKey, id, opts);
      expect(s.status, JSON.stringify(opts)).toBe(204);
      s.close();
    }

    // A late EventSource: everything, then the server closes, then 204 on its reconnect.
    const t = trackedEventSource(eventsUrl(id), apiKey, { retryMs: 100 });
    sources.push(t);
    await until(() => t.es.readyState === t.es.CLOSED, 10_000, 'the EventSource to stop');
    expect(t.received.map(({ id, event, data }) => ({ id, event, data }))).toEqual(all);
    expect(t.requests).toEqual([
      { lastEventId: null, status: 200 },
      { lastEventId: String(n), status: 204 },
    ]);
  });

  it('a Last-Event-ID past the events of a running job: the stream ends when the job ends, then 204', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 150 } });
    const id = res.body.id;
    await api.waitFor(id, ['running']);
    const s = await openRaw(stack.url, apiKey, id, { lastEventId: 999 });
    expect(s.status).toBe(200);
    await api.waitFor(id);
    // Nothing after 999 will ever come: the server ends the stream (it used to stay open,
    // subscribed, for as long as the client kept it).
    const frames = await s.rest(10_000);
    s.close();
    expect(frames.filter((f) => f.kind === 'event')).toEqual([]);
    await until(() => stack.api.hub.channels === 0, 5_000, 'the subscription to end');
    const again = await openRaw(stack.url, apiKey, id, { lastEventId: 999 });
    expect(again.status).toBe(204);
    again.close();
  });

  it('rejects a Last-Event-ID that is not a seq with 400', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1 } });
    for (const opts of [{ lastEventId: 'abc' }, { after: '-1' }]) {
      const s = await openRaw(stack.url, apiKey, res.body.id, opts);
      expect(s.status).toBe(400);
      s.close();
    }
  });

  it('tenant B gets 404 for the events of a job of tenant A', async () => {
    const b = await stack.tenant('sse-b');
    const res = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 0 } });
    const id = res.body.id;
    await api.waitFor(id);

    for (const opts of [{}, { lastEventId: 1 }, { lastEventId: 999 }, { after: 0 }]) {
      const s = await openRaw(stack.url, b.apiKey, id, opts);
      expect(s.status, JSON.stringify(opts)).toBe(404);
      s.close();
    }
    const raw = await fetch(`${stack.url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${b.apiKey}` } });
    expect(raw.status).toBe(404);
    expect((await raw.json()).error.code).toBeTruthy();
    // Same answer as for a job that does not exist at all: nothing tells B that A's job is there.
    const missing = await fetch(`${stack.url}/v1/jobs/00000000-0000-7000-8000-000000000000/events`, {
      headers: { authorization: `Bearer ${b.apiKey}` },
    });
    expect(missing.status).toBe(404);

    // An EventSource of tenant B gives up at once (no reconnect loop on 404).
    const t = trackedEventSource(eventsUrl(id), b.apiKey);
    sources.push(t);
    await until(() => t.es.readyState === t.es.CLOSED, 5_000, 'the EventSource to stop');
    expect(t.received).toEqual([]);
    expect(t.errors.at(-1)).toMatchObject({ code: 404 });

    // And A still reads its own job.
    expect((await readEvents(stack.url, apiKey, id)).at(-1)!.event).toBe('completed');
    // No key at all: 401.
    const anon = await fetch(`${stack.url}/v1/jobs/${id}/events`);
    expect(anon.status).toBe(401);
  });

  it('a retried job shows each attempt in status events and ends with completed (live equals replay)', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 50, failAt: 2, failTimes: 1 } });
    const id = res.body.id;
    const t = trackedEventSource(eventsUrl(id), apiKey);
    sources.push(t);
    await until(() => t.received.some((e) => e.event === 'completed'), 30_000, 'the completed event');
    t.es.close();
    const live = t.received.map(({ id, event, data }) => ({ id, event, data }));

    expect(sequenceProblem(ids(live))).toBe('');
    const statuses = live.filter((e) => e.event === 'status').map((e) => [e.data.status, e.data.attempt]);
    expect(statuses).toEqual([
      ['queued', undefined],
      ['running', 1],
      ['queued', 1],
      ['running', 2],
    ]);
    const requeued = live.find((e) => e.event === 'status' && e.data.status === 'queued' && e.data.attempt === 1)!;
    expect(requeued.data.error).toMatchObject({ code: 'debug_failure', retryable: true });

    const stepEvents = live.filter((e) => e.event === 'step').map((e) => `${e.data.name}:${e.data.status}`);
    expect(stepEvents).toEqual([
      'step-1:running',
      'step-1:completed',
      'step-2:running',
      'step-2:failed',
      // Attempt 2: step-1 is memoized (no step events), step-2 runs again.
      'step-2:running',
      'step-2:completed',
      'step-3:running',
      'step-3:completed',
    ]);
    expect(live.find((e) => e.event === 'step' && e.data.name === 'step-2' && e.data.runs === 2)).toBeTruthy();
    expect(live.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps: 3 } } });

    // Attempt 2's events come after attempt 1's, each in its own range of seq.
    const running2 = live.findIndex((e) => e.event === 'status' && e.data.attempt === 2 && e.data.status === 'running');
    expect(live.slice(running2 + 1).every((e) => e.event !== 'status')).toBe(true);

    // What a subscriber reads afterwards is exactly what the live follower saw.
    expect(await readEvents(stack.url, apiKey, id)).toEqual(live);
  });

  it('a job canceled mid-step: canceled is its last event, even after the interrupted step winds down', async () => {
    // A step far longer than the test: under a loaded CI a 5 s step once ended before the
    // cancel reached the worker, which then canceled between steps.
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 120_000 } });
    const id = res.body.id;
    const s = await openRaw(stack.url, apiKey, id, {});
    await s.events((e) => e.event === 'step' && e.data.status === 'running', 15_000);
    expect((await api.call('POST', `/v1/jobs/${id}/cancel`)).status).toBe(202);
    const rest = await s.events(undefined, 15_000);
    s.close();
    // The interrupted step says so before the terminal event.
    expect(rest.slice(-2)).toMatchObject([{ event: 'step', data: { name: 'step-1', status: 'failed' } }, { event: 'canceled' }]);
    await api.waitFor(id, ['canceled']);
    // The step's failure used to be recorded after the closing write, with a seq past the
    // terminal event: a client resuming from `canceled` got a 200 with one more event.
    await new Promise((r) => setTimeout(r, 500));
    const all = await readEvents(stack.url, apiKey, id);
    expect(sequenceProblem(ids(all))).toBe('');
    expect(all.at(-1)).toMatchObject({ id: rest.at(-1)!.id, event: 'canceled' });
    const again = await openRaw(stack.url, apiKey, id, { lastEventId: all.at(-1)!.id });
    expect(again.status).toBe(204);
    again.close();
    expect((await api.get(id)).body.steps[0]).toMatchObject({ name: 'step-1', status: 'failed' });
  });

  it('a retried job is followed to its new end, past the terminal event of the run before', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 300, failAt: 1, failTimes: 3 } });
    const id = res.body.id;
    expect((await api.waitFor(id, undefined, 30_000)).status).toBe('failed');
    const before = await readEvents(stack.url, apiKey, id);
    const failedAt = before.at(-1)!;
    expect(failedAt.event).toBe('failed');

    expect((await api.call('POST', `/v1/jobs/${id}/retry`)).status).toBe(202);
    // From the start and from the old terminal event: both go on through the retry to its end.
    const [all, resumed] = await Promise.all([
      readEvents(stack.url, apiKey, id),
      readEvents(stack.url, apiKey, id, { lastEventId: failedAt.id }),
    ]);
    expect(sequenceProblem(ids(all))).toBe('');
    expect(all.slice(0, before.length)).toEqual(before);
    expect(all.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps: 2 } } });
    expect(all[before.length]).toMatchObject({ event: 'status', data: { status: 'queued', retried: true } });
    expect(resumed).toEqual(all.slice(before.length));
    const end = await openRaw(stack.url, apiKey, id, { lastEventId: all.at(-1)!.id });
    expect(end.status).toBe(204);
    end.close();
  });

  it('a job that fails for good shows three attempts and ends with failed', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 2, failAt: 1, failTimes: 99 } });
    const id = res.body.id;
    const t = trackedEventSource(eventsUrl(id), apiKey);
    sources.push(t);
    await until(() => t.received.some((e) => e.event === 'failed'), 30_000, 'the failed event');
    t.es.close();
    const live = t.received;
    expect(sequenceProblem(ids(live))).toBe('');
    expect(live.filter((e) => e.event === 'status' && e.data.status === 'running').map((e) => e.data.attempt)).toEqual([1, 2, 3]);
    expect(live.at(-1)).toMatchObject({ event: 'failed', data: { error: { code: 'debug_failure' } } });
    expect(live.filter((e) => e.event === 'completed')).toEqual([]);
  });
});
