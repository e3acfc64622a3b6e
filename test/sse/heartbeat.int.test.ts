/**
 * Heartbeats: an idle stream carries comment lines at the configured interval (15 s in
 * production, 200 ms here), never events with a seq; the stream still ends after the
 * terminal event, also one published by the API (cancel of a queued job).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, issueKey, request } from '../support/http.ts';
import { eventsOf, openRaw, until } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const HEARTBEAT_MS = 200;

describe('SSE: heartbeats', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;

  beforeAll(async () => {
    stack = await startStack({ sseHeartbeatMs: HEARTBEAT_MS });
    apiKey = (await stack.tenant()).apiKey;
    api = client(stack.url, apiKey);
  });
  afterAll(() => stack?.close());

  it('sends comment heartbeats on an idle stream', async () => {
    // A delayed job: queued, and nothing happens on its stream for a minute.
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 });
    expect(res.status).toBe(202);
    const s = await openRaw(stack.url, apiKey, res.body.id);
    expect(s.status).toBe(200);

    const { frames, ended } = await s.during(HEARTBEAT_MS * 6);
    s.close();
    expect(ended).toBe(false);
    const events = frames.filter((f) => f.frame.kind === 'event');
    const beats = frames.filter((f) => f.frame.kind === 'comment');
    expect(events.map((f) => f.frame)).toEqual([{ kind: 'event', id: 1, event: 'status', data: { status: 'queued' } }]);
    // About one every 200 ms over 1.2 s (timers on a busy machine may slip one).
    expect(beats.length).toBeGreaterThanOrEqual(3);
    expect(beats.length).toBeLessThanOrEqual(7);
    for (const b of beats) expect(b.frame).toEqual({ kind: 'comment', text: 'heartbeat' });
    const gaps = beats.slice(1).map((b, i) => b.at - beats[i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(HEARTBEAT_MS / 2);
    // A client that goes away leaves no subscription behind.
    await until(() => stack.api.hub.channels === 0, 5_000, 'the closed stream to unsubscribe');
  });

  it('an idle stream ends with the canceled event of a queued job (an event from the API), then 204', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 });
    const id = res.body.id;
    const s = await openRaw(stack.url, apiKey, id);
    expect(await s.events((e) => e.id === 1)).toEqual([{ id: 1, event: 'status', data: { status: 'queued' } }]);
    const cancel = await api.call('POST', `/v1/jobs/${id}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const rest = await s.rest(10_000);
    s.close();
    expect(eventsOf(rest)).toEqual([{ id: 2, event: 'canceled', data: {} }]);
    expect(rest.at(-1)).toMatchObject({ kind: 'event', event: 'canceled' });
    const again = await openRaw(stack.url, apiKey, id, { lastEventId: 2 });
    expect(again.status).toBe(204);
    again.close();
  });

  it('sends heartbeats while a long step runs, between its events', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1_200 } });
    const id = res.body.id;
    const s = await openRaw(stack.url, apiKey, id);
    const frames = await s.rest(20_000);
    s.close();
    const events = eventsOf(frames);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    // Heartbeats came between "step-1 running" and "step-1 completed".
    const start = frames.findIndex((f) => f.kind === 'event' && f.event === 'step' && f.data.status === 'running');
    const end = frames.findIndex((f) => f.kind === 'event' && f.event === 'step' && f.data.status === 'completed');
    expect(frames.slice(start, end).filter((f) => f.kind === 'comment').length).toBeGreaterThanOrEqual(3);
    expect(frames.at(-1)).toMatchObject({ kind: 'event', id: 6, event: 'completed' });
  });

  it("a stream whose key is revoked ends at its next heartbeat; the owner's stream goes on", async () => {
    const tenant = await stack.tenant();
    const owner = client(stack.url, tenant.apiKey);
    const leaked = await issueKey(stack.url, stack.adminToken, tenant.id, ['jobs:read']);
    const id = (await owner.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body.id;
    const revoked = await openRaw(stack.url, leaked.apiKey, id);
    const kept = await openRaw(stack.url, tenant.apiKey, id);
    try {
      expect((await revoked.events((e) => e.id === 1, 5_000)).map((e) => e.event)).toEqual(['status']);
      expect(
        (await request(stack.url, `/v1/admin/api-keys/${leaked.id}`, { method: 'DELETE', headers: bearer(stack.adminToken) }))
          .status,
      ).toBe(204);
      expect((await revoked.during(HEARTBEAT_MS * 5)).ended).toBe(true);
      expect((await kept.during(HEARTBEAT_MS * 3)).ended).toBe(false);
      // Reconnecting with the revoked key is a 401.
      expect((await openRaw(stack.url, leaked.apiKey, id)).status).toBe(401);
    } finally {
      revoked.close();
      kept.close();
    }
  });
});
