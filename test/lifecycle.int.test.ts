import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from './support/stack.ts';

describe('job lifecycle', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack();
    const t = await stack.tenant();
    api = client(stack.url, t.apiKey);
  });
  afterAll(() => stack?.close());

  it('runs a debug-steps job to completed with every step once', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 10 } });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('queued');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    expect(job.result).toEqual({ steps: 3 });
    expect(job.attempts).toBe(1);
    expect(job.progress.pct).toBe(100);
    expect(job.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'completed', 1],
      ['step-3', 'completed', 1],
    ]);
    expect(job.startedAt).toBeTruthy();
    expect(job.finishedAt).toBeTruthy();
  });

  it('retries a failing step: failTimes 1 completes with runs 1,2', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, failAt: 2, failTimes: 1 } });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    expect(job.attempts).toBe(2);
    expect(job.steps.map((s: any) => s.runs)).toEqual([1, 2, 1]);
  });

  it('fails for good after 3 attempts: failTimes 99', async () => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 2, failAt: 1, failTimes: 99 } });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('failed');
    expect(job.attempts).toBe(3);
    expect(job.error).toMatchObject({ code: 'debug_failure', retryable: true });
    expect(job.steps[0]).toMatchObject({ name: 'step-1', status: 'failed', runs: 3 });
  });
});
