/** SIGTERM to a worker process: it stops taking jobs, finishes the running one, and exits 0. */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
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
});
