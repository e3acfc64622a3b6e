/**
 * Cancel and retry contract: a queued job → 200 canceled and never runs; a running job → 202
 * cancelRequested, then canceled within a bound; a terminal job → 409; retry of a failed or
 * canceled job → queued again and completes, keeping its completed steps; retry of anything
 * else → 409.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, eventually, expectError, request, sleep } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Api = ReturnType<typeof client>;
const stepRuns = (job: { steps: { name: string; status: string; runs: number }[] }) =>
  job.steps.map((s) => [s.name, s.status, s.runs]);

describe('cancel of queued jobs (no worker yet)', () => {
  let stack: Stack;
  let api: Api;
  let key: string;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    key = (await stack.tenant('cancel-queued')).apiKey;
    api = client(stack.url, key);
  });
  afterAll(() => stack?.close());

  it('a queued job → 200 canceled, and it never runs once workers start', async () => {
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 2 } })).body;
    const keep = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    const res = await api.call('POST', `/v1/jobs/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: job.id, status: 'canceled', cancelRequested: false, attempts: 0, steps: [] });
    expect(res.body.finishedAt).toBeTruthy();
    expect((await api.get(job.id)).body.status).toBe('canceled');

    // A second cancel is a conflict, not a second cancel.
    const again = expectError(
      await request(stack.url, `/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: bearer(key) }),
      409,
      'job_finished',
    );
    expect(again.details).toEqual({ status: 'canceled' });

    await stack.startWorker();
    expect((await api.waitFor(keep.id)).status).toBe('completed');
    // Past a few reconciler passes (every 1 s in tests): the canceled job was never re-added.
    await sleep(2_500);
    const after = (await api.get(job.id)).body;
    expect(after).toMatchObject({ status: 'canceled', attempts: 0, steps: [], startedAt: null, result: null });
  });
});

describe('cancel and retry with a worker', () => {
  let stack: Stack;
  let api: Api;
  let key: string;

  beforeAll(async () => {
    stack = await startStack();
    key = (await stack.tenant('cancel-retry')).apiKey;
    api = client(stack.url, key);
  });
  afterAll(() => stack?.close());

  const cancel = (id: string) => api.call('POST', `/v1/jobs/${id}/cancel`);
  const retry = (id: string) => api.call('POST', `/v1/jobs/${id}/retry`);
  const stepDone = (id: string, name: string) =>
    eventually(`${name} of ${id} completed`, async () => {
      const job = (await api.get(id)).body;
      return job.steps.some((s: { name: string; status: string }) => s.name === name && s.status === 'completed') && job;
    });

  it('a delayed job → 200 canceled, and it never runs', async () => {
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 1_500 })).body;
    const res = await cancel(job.id);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('canceled');
    await sleep(3_000);
    expect((await api.get(job.id)).body).toMatchObject({ status: 'canceled', attempts: 0, steps: [] });
  });

  it('a running job → 202 with cancelRequested, then canceled within a bounded time', async () => {
    // Each step sleeps 20 s: only an abort of the running step ends it within the bound.
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 20_000 } })).body;
    await eventually('step-1 started', async () => (await api.get(job.id)).body.steps.length > 0);
    const started = Date.now();
    const res = await cancel(job.id);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: job.id, status: 'running', cancelRequested: true });

    const done = await api.waitFor(job.id, ['completed', 'failed', 'canceled'], 10_000);
    expect(done.status).toBe('canceled');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(done.cancelRequested).toBe(false);
    expect(done.finishedAt).toBeTruthy();
    expect(done.result).toBeNull();
    // It did not go on to the next step.
    expect(done.steps.map((s: { name: string }) => s.name)).toEqual(['step-1']);
    await sleep(500);
    expect((await api.get(job.id)).body.status).toBe('canceled');

    expectError(
      await request(stack.url, `/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: bearer(key) }),
      409,
      'job_finished',
    );
  });

  it('retry of a job canceled mid-run → queued again, completes, completed steps kept', async () => {
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 1_500 } })).body;
    await stepDone(job.id, 'step-1');
    const res = await cancel(job.id);
    expect(res.status).toBe(202);
    const canceled = await api.waitFor(job.id, ['canceled', 'completed', 'failed'], 10_000);
    expect(canceled.status).toBe('canceled');
    expect(canceled.steps[0]).toMatchObject({ name: 'step-1', status: 'completed', runs: 1 });

    const again = await retry(job.id);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({
      id: job.id,
      status: 'queued',
      error: null,
      result: null,
      finishedAt: null,
      cancelRequested: false,
    });
    const done = await api.waitFor(job.id, ['completed', 'failed', 'canceled'], 30_000);
    expect(done.status).toBe('completed');
    expect(done.result).toEqual({ steps: 3 });
    // step-1 completed before the cancel and did not run again; step-2 was interrupted.
    expect(stepRuns(done)).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'completed', 2],
      ['step-3', 'completed', 1],
    ]);
    expect(done.attempts).toBe(2);
  });

  it('retry of a job canceled while queued → runs from the start', async () => {
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 2 }, delayMs: 60_000 })).body;
    expect((await cancel(job.id)).status).toBe(200);
    const again = await retry(job.id);
    expect(again.status).toBe(202);
    expect(again.body.status).toBe('queued');
    const done = await api.waitFor(job.id, undefined, 30_000);
    expect(done.status).toBe('completed');
    expect(stepRuns(done)).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'completed', 1],
    ]);
  });

  it('retry of a failed job → queued again and completes, completed steps kept', async () => {
    // step-2 fails its first 3 runs: the 3 attempts of the type are used up, the job fails.
    const job = (await api.submit({ type: 'debug-steps', input: { steps: 3, failAt: 2, failTimes: 3 } })).body;
    const failed = await api.waitFor(job.id, undefined, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'debug_failure', retryable: true });
    expect(stepRuns(failed)).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'failed', 3],
    ]);

    const again = await retry(job.id);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ status: 'queued', error: null, finishedAt: null });
    const done = await api.waitFor(job.id, undefined, 30_000);
    expect(done.status).toBe('completed');
    expect(done.error).toBeNull();
    expect(stepRuns(done)).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'completed', 4],
      ['step-3', 'completed', 1],
    ]);
    expect(done.attempts).toBe(4);
  });

  it('retry of a completed, queued or running job → 409; cancel of a completed or failed job → 409', async () => {
    const completed = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    await api.waitFor(completed.id);
    const r1 = expectError(
      await request(stack.url, `/v1/jobs/${completed.id}/retry`, { method: 'POST', headers: bearer(key) }),
      409,
      'not_retryable',
    );
    expect(r1.details).toEqual({ status: 'completed' });
    const c1 = expectError(
      await request(stack.url, `/v1/jobs/${completed.id}/cancel`, { method: 'POST', headers: bearer(key) }),
      409,
      'job_finished',
    );
    expect(c1.details).toEqual({ status: 'completed' });
    expect((await api.get(completed.id)).body.status).toBe('completed');

    const failed = (await api.submit({ type: 'debug-steps', input: { steps: 1, failAt: 1, failTimes: 99 } })).body;
    await api.waitFor(failed.id, undefined, 30_000);
    expectError(
      await request(stack.url, `/v1/jobs/${failed.id}/cancel`, { method: 'POST', headers: bearer(key) }),
      409,
      'job_finished',
    );

    const queued = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body;
    const r2 = expectError(
      await request(stack.url, `/v1/jobs/${queued.id}/retry`, { method: 'POST', headers: bearer(key) }),
      409,
      'not_retryable',
    );
    expect(r2.details).toEqual({ status: 'queued' });

    const running = (await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 20_000 } })).body;
    await api.waitFor(running.id, ['running']);
    expectError(
      await request(stack.url, `/v1/jobs/${running.id}/retry`, { method: 'POST', headers: bearer(key) }),
      409,
      'not_retryable',
    );
    expect((await cancel(running.id)).status).toBe(202);
    expect((await cancel(queued.id)).status).toBe(200);
    expect((await api.waitFor(running.id, undefined, 10_000)).status).toBe('canceled');
  });

  it('cancel and retry of a job that does not exist → 404', async () => {
    expectError(
      await request(stack.url, '/v1/jobs/01900000-0000-7000-8000-000000000000/cancel', { method: 'POST', headers: bearer(key) }),
      404,
      'not_found',
    );
    expectError(
      await request(stack.url, '/v1/jobs/01900000-0000-7000-8000-000000000000/retry', { method: 'POST', headers: bearer(key) }),
      404,
      'not_found',
    );
  });
});
