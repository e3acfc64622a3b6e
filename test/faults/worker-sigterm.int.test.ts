/**
 * SIGTERM to a worker process: it stops taking jobs, finishes the running one, and exits 0; a
 * job still running when the grace period ends goes back to the queue.
 */
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
import { waitUntil } from '../support/ports.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

describe('graceful shutdown', () => {
  let stack: Stack;
  let worker: Child | undefined;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await stack?.close();
  });

  it('finishes the running job before it exits, and leaves queued jobs for the next worker', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    worker = await startWorkerProcess({
      databaseUrl: stack.database.url,
      redisUrl: REDIS_URL,
      prefix: stack.prefix,
      env: { SPOOL_CONCURRENCY: 'debug-steps=1' },
    });
    const running = (await api.submit({ type: 'debug-steps', input: { steps: 4, stepMs: 400 } })).body.id;
    await api.waitFor(running, ['running']);
    const waiting = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id;

    const exited = once(worker.proc, 'exit');
    worker.proc.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);

    const done = await api.get(running);
    expect(done.body.status).toBe('completed');
    expect(done.body.attempts).toBe(1);
    expect(done.body.steps.map((s: any) => s.runs)).toEqual([1, 1, 1, 1]);
    expect((await api.get(waiting)).body.status).toBe('queued');

    await stack.startWorker();
    expect((await api.waitFor(waiting)).status).toBe('completed');
  });

  it('past SPOOL_SHUTDOWN_GRACE_MS, hands a running job back to the queue without spending an attempt', async () => {
    await stack.worker?.close(); // the previous test's
    const api = client(stack.url, (await stack.tenant('grace')).apiKey);
    worker = await startWorkerProcess({
      databaseUrl: stack.database.url,
      redisUrl: REDIS_URL,
      prefix: stack.prefix,
      env: { SPOOL_SHUTDOWN_GRACE_MS: '500' },
    });
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 5, stepMs: 1_500 } })).body.id;
    // Step 1 completed, step 2 under way when the signal comes.
    await waitUntil('step 2 to start', async () => ((await api.get(id)).body.steps?.length === 2 ? true : undefined), 20_000);

    const exited = once(worker.proc, 'exit');
    worker.proc.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);

    const handedBack = (await api.get(id)).body;
    expect(handedBack.status).toBe('queued');
    expect(handedBack.error).toMatchObject({ code: 'interrupted' });
    expect(handedBack.steps.map((s: any) => [s.name, s.status])).toEqual([
      ['step-1', 'completed'],
      ['step-2', 'failed'],
    ]);
    const queued = await stack.database.db.query<{ data: any }>(
      sql`SELECT data FROM job_events WHERE job_id = ${id} AND type = 'status' ORDER BY seq DESC LIMIT 1`,
    );
    expect(queued[0]?.data).toMatchObject({ status: 'queued', error: { code: 'interrupted' } });
    const queue = new Queue('debug-steps', { connection: { url: REDIS_URL }, prefix: stack.prefix });
    try {
      const job = await queue.getJob(id);
      expect(job?.attemptsMade).toBe(0);
      expect(await job?.getState()).not.toBe('active');
    } finally {
      await queue.close();
    }

    await stack.startWorker();
    const done = await api.waitFor(id);
    expect(done.status).toBe('completed');
    // Resumed after the last completed step: step 1 ran once, the interrupted step 2 twice.
    expect(done.steps.map((s: any) => s.runs)).toEqual([1, 2, 1, 1, 1]);
  });
});
