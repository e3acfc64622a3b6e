/**
 * Fault: Redis is down while a client submits. The API must still accept the job (202) within
 * a bounded time, because the row in PostgreSQL is what makes it durable; once Redis is back
 * (empty, as after a crash without persistence) the reconciler adds the job and it completes.
 * Runs against a private redis-server, never the shared one.
 */
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../support/redis-server.ts';
import { readEvents } from '../support/sse.ts';
import { openRaw } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

// A correctness bound, not a benchmark: the add to Redis is abandoned after 3 s
// (ENQUEUE_TIMEOUT_MS), so an answer later than this means the submit waited on Redis.
const ANSWER_WITHIN_MS = 5_000;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

describe('fault: Redis down during submit', () => {
  let redis: RedisServer;
  let stack: Stack;
  let api: ReturnType<typeof client>;

  let apiKey: string;
  let warmId: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({ worker: true, redisUrl: redis.url, reconcileIntervalMs: 300 });
    apiKey = (await stack.tenant()).apiKey;
    api = client(stack.url, apiKey);
    // Warm up: the stack works end to end before the fault.
    const warm = await api.submit({ type: 'debug-steps', input: { steps: 1 } });
    warmId = warm.body.id;
    expect((await api.waitFor(warmId)).status).toBe('completed');
  });
  afterAll(async () => {
    await redis?.start().catch(() => {}); // lets the worker's connections close cleanly
    await stack?.close();
    await redis?.stop();
  });

  it('accepts jobs while Redis is down, and runs them once it is back', async () => {
    await redis.stop();

    const single = await timed(() => api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 10 } }));
    expect(single.value.status).toBe(202);
    expect(single.value.body).toMatchObject({ status: 'queued', type: 'debug-steps' });
    expect(single.ms).toBeLessThan(ANSWER_WITHIN_MS);

    const batch = await timed(() =>
      api.call('POST', '/v1/jobs/batch', {
        jobs: Array.from({ length: 5 }, () => ({ type: 'debug-steps', input: { steps: 1 } })),
      }),
    );
    expect(batch.value.status).toBe(202);
    expect(batch.ms).toBeLessThan(ANSWER_WITHIN_MS);

    // An idempotent resubmit while Redis is down finds the same durable job.
    const keyed = await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'redis-down-1' });
    const again = await timed(() => api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'redis-down-1' }));
    expect(again.value.status).toBe(202);
    expect(again.value.body.id).toBe(keyed.body.id);
    expect(again.ms).toBeLessThan(ANSWER_WITHIN_MS);

    const ids: string[] = [single.value.body.id, ...batch.value.body.data.map((j: any) => j.id), keyed.body.id];
    // Durable: reads come from PostgreSQL and do not wait on Redis either.
    for (const id of ids) {
      const read = await timed(() => api.get(id));
      expect(read.value.status).toBe(200);
      expect(read.value.body.status).toBe('queued');
      expect(read.ms).toBeLessThan(ANSWER_WITHIN_MS);
    }

    // Readiness reports the outage, bounded, with Retry-After.
    const ready = await timed(() => fetch(`${stack.url}/readyz`, { signal: AbortSignal.timeout(10_000) }));
    expect(ready.value.status).toBe(503);
    expect(ready.value.headers.get('retry-after')).toBeTruthy();
    // The error envelope of every 503, with what a probe may show, never a driver's message.
    expect(await ready.value.json()).toEqual({
      error: {
        code: 'not_ready',
        message: 'Redis is unreachable',
        details: { checks: { postgres: { ok: true }, redis: { ok: false, error: 'unreachable' } } },
      },
    });
    expect(ready.ms).toBeLessThan(ANSWER_WITHIN_MS);

    // Events: an ended job's history replays from PostgreSQL alone (queued, running, the step,
    // progress, completed), and the stream closes; a job still live cannot be followed without
    // the Redis channel, so it is a 503 with Retry-After rather than a silent open stream.
    const history = await readEvents(stack.url, apiKey, warmId, { timeoutMs: ANSWER_WITHIN_MS });
    expect(history.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(history.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps: 1 } } });
    const live = await openRaw(stack.url, apiKey, single.value.body.id, {});
    expect(live.status).toBe(503);
    expect(live.headers.get('retry-after')).toBe('5');
    live.close();

    // The dashboard: the job explorer reads PostgreSQL and works; Bull Board's API reads Redis
    // and says it is an outage (503), not a failure of its own (it answered 500).
    const dashboard = createDashboard(dashboardDepsFromApi(stack.api, ''));
    const admin = { authorization: `Bearer ${stack.adminToken}` };
    const explorer = await dashboard.request(`/?status=queued`, { headers: admin });
    expect(explorer.status).toBe(200);
    expect(await explorer.text()).toContain(single.value.body.id);
    const board = await timed(async () => dashboard.request('/queues/api/queues', { headers: admin }));
    expect(board.value.status).toBe(503);
    expect(await board.value.json()).toMatchObject({
      message: 'a dependency (PostgreSQL or Redis) is unreachable; try again shortly',
    });
    expect(board.ms).toBeLessThan(ANSWER_WITHIN_MS);

    // Back on the same port, with no data: the reconciler adds the jobs and a worker runs them.
    await redis.start();
    const jobs = await Promise.all(ids.map((id) => api.waitFor(id, ['completed', 'failed', 'canceled'], 45_000)));
    for (const job of jobs) expect(job).toMatchObject({ status: 'completed', attempts: 1 });
    expect(jobs[0].result).toEqual({ steps: 2 });

    // And the API's own Redis connection recovered: a fresh submit is enqueued directly.
    const after = await api.submit({ type: 'debug-steps', input: { steps: 1 } });
    expect(after.status).toBe(202);
    expect((await api.waitFor(after.body.id, ['completed', 'failed', 'canceled'], 20_000)).status).toBe('completed');
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(200);
  });
});

describe('fault: the API starts while Redis is down', () => {
  let redis: RedisServer;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    await redis.stop();
    stack = await startStack({ worker: false, redisUrl: redis.url, reconcileIntervalMs: 300 });
  });
  afterAll(async () => {
    await redis?.start().catch(() => {});
    await stack?.close();
    await redis?.stop();
  });

  it('cancel and retry answer in bounded time, committed; a retried job runs at once, whatever its delay', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    // BullMQ's queues wait for a first connection: a cancel's or retry's removal from the queue
    // waited until the request's deadline (503 after 8 s), though the change was committed.
    const delayed = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 3_600_000 });
    const stays = await api.submit({ type: 'debug-steps', input: { steps: 1 } });
    expect([delayed.status, stays.status]).toEqual([202, 202]);
    for (const id of [delayed.body.id, stays.body.id]) {
      const canceled = await timed(() => api.call('POST', `/v1/jobs/${id}/cancel`));
      expect(canceled.value).toMatchObject({ status: 200, body: { status: 'canceled' } });
      expect(canceled.ms).toBeLessThan(ANSWER_WITHIN_MS);
    }
    const retried = await timed(() => api.call('POST', `/v1/jobs/${delayed.body.id}/retry`));
    expect(retried.value).toMatchObject({ status: 202, body: { status: 'queued' } });
    expect(retried.ms).toBeLessThan(ANSWER_WITHIN_MS);

    await redis.start();
    await stack.startWorker();
    expect(await api.waitFor(delayed.body.id, ['completed', 'failed', 'canceled'], 30_000)).toMatchObject({
      status: 'completed',
      attempts: 1,
    });
    expect((await api.get(stays.body.id)).body.status).toBe('canceled');
  });
});
