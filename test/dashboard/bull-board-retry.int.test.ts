/**
 * Retrying a failed job from Bull Board (its HTTP API calls BullMQ's `job.retry()`, which moves
 * the same BullMQ job back to wait without telling Spool) reopens Spool's PostgreSQL row: the
 * job runs again, keeps its completed steps and ends `completed` in PostgreSQL, and SSE
 * followers see the new `running` state. The claim still fences stale workers on `attempts`.
 */
// First: the API extends zod with .openapi() before core's schemas load (as in its main.ts).
import '@spool/api';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { claimJob, endAttempt } from '@spool/core/store/lease';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEvents } from '../support/sse.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('Bull Board retry of a failed job', () => {
  let stack: Stack;
  let server: ServerType;
  let board: string;
  let apiKey: string;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack();
    apiKey = (await stack.tenant('retry-tenant')).apiKey;
    api = client(stack.url, apiKey);
    const app = createDashboard(dashboardDepsFromApi(stack.api, ''));
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    board = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (server) {
      (server as import('node:http').Server).closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
    await stack?.close();
  });

  /** Waits until BullMQ itself holds the job in `state` (PostgreSQL is written first). */
  const bullState = async (id: string, state: string) => {
    const queue = stack.api.queues.get('debug-steps');
    const deadline = Date.now() + 15_000;
    for (;;) {
      const s = await (await queue.getJob(id))?.getState();
      if (s === state) return;
      if (Date.now() > deadline) throw new Error(`BullMQ job ${id} is ${s}, not ${state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const retry = (id: string, authorization = `Bearer ${stack.adminToken}`) =>
    fetch(`${board}/queues/api/queues/debug-steps/${id}/retry`, { method: 'PUT', headers: { authorization } });

  it('runs the job again and it ends completed in PostgreSQL, with its completed steps kept', async () => {
    // step-2 fails on its first 3 runs: the type's 3 attempts all fail; a 4th run succeeds.
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 5, failAt: 2, failTimes: 3 } });
    expect(res.status).toBe(202);
    const id = res.body.id as string;
    const failed = await api.waitFor(id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, error: { code: expect.any(String) } });
    await bullState(id, 'failed');

    // Only the admin may retry; a tenant key gets 403 and nothing moves.
    expect((await retry(id, `Bearer ${apiKey}`)).status).toBe(403);
    const answer = await retry(id);
    expect(answer.status).toBe(204);

    const done = await api.waitFor(id, ['completed'], 20_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 4, result: { steps: 3 }, error: null });
    expect(done.finishedAt).toBeTruthy();
    expect(done.steps.map((s: { name: string; runs: number; status: string }) => [s.name, s.runs, s.status])).toEqual([
      ['step-1', 1, 'completed'], // memoized: never ran again
      ['step-2', 4, 'completed'],
      ['step-3', 1, 'completed'],
    ]);
    await bullState(id, 'completed');

    // The history reads failed → running (attempt 4) → completed, with no gap in seq.
    const events = await readEvents(stack.url, apiKey, id, { after: 0 });
    const failedAt = events.findIndex((e) => e.event === 'failed');
    expect(failedAt).toBeGreaterThan(0);
    const rest = await readEvents(stack.url, apiKey, id, { lastEventId: events[failedAt]!.id });
    expect(rest[0]).toMatchObject({ event: 'status', data: { status: 'running', attempt: 4 } });
    expect(rest.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps: 3 } } });
    expect(rest.map((e) => e.id)).toEqual(rest.map((_, i) => events[failedAt]!.id + 1 + i));
  });

  it('a job that fails again after the retry ends failed in PostgreSQL (one more attempt)', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1, failAt: 1, failTimes: 99 } });
    const id = res.body.id as string;
    await api.waitFor(id);
    await bullState(id, 'failed');
    expect((await retry(id)).status).toBe(204);
    await bullState(id, 'failed');
    const job = await api.waitFor(id, ['failed']);
    expect(job).toMatchObject({ status: 'failed', attempts: 4 });
    expect(job.steps[0]).toMatchObject({ name: 'step-1', runs: 4, status: 'failed' });
  });

  it('a reopened claim fences the stale attempt: its late write matches no row', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1, failAt: 1, failTimes: 99 } });
    const id = res.body.id as string;
    await api.waitFor(id);
    await bullState(id, 'failed');
    const db = stack.database.db;

    // As if BullMQ handed the failed job out again: the claim reopens it as attempt 4.
    const claim = await claimJob(db, { jobId: id, seqFloor: 0, attemptsMade: 3 });
    expect(claim).toMatchObject({ attempts: 4, cancel_requested_at: null });
    // Attempt 3's worker, late, tries to close the job: dropped.
    const stale = await endAttempt(db, {
      jobId: id,
      attemptsMade: 0,
      attempt: 3,
      status: 'completed',
      result: { steps: 1 },
      events: [{ seq: claim!.last_seq + 1, type: 'completed', data: { result: { steps: 1 } } }],
    });
    expect(stale.ok).toBe(false);
    expect((await api.get(id)).body).toMatchObject({ status: 'running', attempts: 4, finishedAt: null });
    // The holder of attempt 4 can.
    const mine = await endAttempt(db, {
      jobId: id,
      attemptsMade: 0,
      attempt: 4,
      status: 'completed',
      result: { steps: 1 },
      events: [{ seq: claim!.last_seq + 1, type: 'completed', data: { result: { steps: 1 } } }],
    });
    expect(mine.ok).toBe(true);
    expect((await api.get(id)).body).toMatchObject({ status: 'completed', attempts: 4, result: { steps: 1 } });
  });

  it('completed and canceled rows stay closed: a claim of them returns nothing', async () => {
    const done = await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1 } });
    await api.waitFor(done.body.id, ['completed']);
    expect(await claimJob(stack.database.db, { jobId: done.body.id, seqFloor: 0, attemptsMade: 0 })).toBeUndefined();

    const later = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 });
    expect((await api.call('POST', `/v1/jobs/${later.body.id}/cancel`)).status).toBe(200);
    expect(await claimJob(stack.database.db, { jobId: later.body.id, seqFloor: 0, attemptsMade: 0 })).toBeUndefined();
    expect((await api.get(later.body.id)).body.status).toBe('canceled');
  });

  describe("Bull Board's other writes", () => {
    const put = (path: string, init: RequestInit = {}) =>
      fetch(`${board}/queues/api/queues/${path}`, {
        method: 'PUT',
        ...init,
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      });
    const refused = async (res: Response, message: RegExp) => {
      expect(res.status).toBe(409);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('Refused by Spool');
      expect(body.message).toMatch(message);
    };

    it('removing a waiting job is refused (the reconciler would queue it again); a finished one goes', async () => {
      const parked = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 })).body.id as string;
      await bullState(parked, 'delayed');
      await refused(await put(`debug-steps/${parked}/clean`), /this job is delayed: .*cancel the job in the explorer/);
      await refused(await put('debug-steps/clean/delayed'), /only finished jobs can be removed/);
      await refused(await put('debug-steps/empty'), /queued again by the reconciler/);
      await bullState(parked, 'delayed');
      expect((await api.get(parked)).body.status).toBe('queued');

      const done = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id as string;
      await api.waitFor(done, ['completed']);
      await bullState(done, 'completed');
      expect((await put(`debug-steps/${done}/clean`)).status).toBe(204);
      expect(await stack.api.queues.get('debug-steps').getJob(done)).toBeUndefined();
      // Redis tidied; the record stays.
      expect((await api.get(done)).body.status).toBe('completed');
      expect((await api.call('POST', `/v1/jobs/${parked}/cancel`)).status).toBe(200);
    });

    it('retrying a completed job, adding a job or editing its data is refused with what to do instead', async () => {
      const done = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id as string;
      await api.waitFor(done, ['completed']);
      await bullState(done, 'completed');
      await refused(await retry(done), /a completed job has ended/);
      await refused(await put('debug-steps/retry/completed'), /only failed jobs can be retried/);
      await refused(
        await fetch(`${board}/queues/api/queues/debug-steps/add`, {
          method: 'POST',
          headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', data: {} }),
        }),
        /submit jobs through POST \/v1\/jobs/,
      );
      await refused(
        await fetch(`${board}/queues/api/queues/debug-steps/${done}/update-data`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ data: {} }),
        }),
        /input is kept in PostgreSQL/,
      );
    });

    it("links a job of a job type to the explorer's page of it", async () => {
      const parked = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 })).body.id as string;
      await bullState(parked, 'delayed');
      const res = await fetch(`${board}/queues/api/queues?activeQueue=debug-steps&status=delayed&page=1`, {
        headers: { authorization: `Bearer ${stack.adminToken}` },
      });
      const queue = (
        (await res.json()) as { queues: { name: string; jobs: { id: string; externalUrl?: unknown }[] }[] }
      ).queues.find((q) => q.name === 'debug-steps');
      expect(queue?.jobs.find((j) => j.id === parked)?.externalUrl).toEqual({ displayText: 'Spool', href: `/jobs/${parked}` });
      expect((await api.call('POST', `/v1/jobs/${parked}/cancel`)).status).toBe(200);
    });
  });
});
