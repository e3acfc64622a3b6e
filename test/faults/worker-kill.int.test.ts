/**
 * Fault: a worker process is killed with SIGKILL in the middle of step 3 of 5. Nothing in it
 * gets to clean up: its BullMQ lock must expire, another worker process must take the job
 * over, resume after the last completed step, and finish with the same result as a run
 * without the fault.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
import { waitUntil } from '../support/ports.ts';
import { readEvents } from '../support/sse.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

const LOCK_MS = 2_000;
// Long enough that "step 3 is running" seen by a poll is still true when the kill lands,
// even on a busy machine; short enough that the whole job takes seconds.
const STEP_MS = 1_000;

describe('fault: kill -9 of a worker process during a step', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;
  const workers: Child[] = [];

  const worker = async () => {
    const w = await startWorkerProcess({
      databaseUrl: stack.database.url,
      redisUrl: REDIS_URL,
      prefix: stack.prefix,
      lockMs: LOCK_MS,
    });
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    apiKey = (await stack.tenant()).apiKey;
    api = client(stack.url, apiKey);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await stack?.close();
  });

  it('resumes at the interrupted step on another worker and completes with the unfaulted result', async () => {
    const first = await worker();
    const submitted = await api.submit({ type: 'debug-steps', input: { steps: 5, stepMs: STEP_MS } });
    expect(submitted.status).toBe(202);
    const id: string = submitted.body.id;

    // Step 3 is running once the job lists it as running (job_steps is written at step start).
    await waitUntil(
      'step-3 to be running',
      async () => {
        const job = (await api.get(id)).body;
        const step3 = job.steps.find((s: any) => s.name === 'step-3');
        if (job.steps.some((s: any) => s.name === 'step-4')) throw new Error('missed step-3: step-4 already started');
        return step3?.status === 'running' ? true : undefined;
      },
      45_000,
      25,
    );
    first.proc.kill('SIGKILL');
    expect(await Promise.race([first.exited, new Promise((r) => setTimeout(() => r('still alive'), 5_000))])).toBe('SIGKILL');

    // The premise: the kill landed inside step 3, with steps 1–2 done and nothing after.
    const atKill = await stack.database.db.query<{ name: string; status: string; runs: number }>(
      sql`SELECT name, status, runs FROM job_steps WHERE job_id = ${id} ORDER BY position`,
    );
    expect(atKill).toEqual([
      { name: 'step-1', status: 'completed', runs: 1 },
      { name: 'step-2', status: 'completed', runs: 1 },
      { name: 'step-3', status: 'running', runs: 1 },
    ]);

    await worker();
    // An unfaulted run of the same job, on the second worker, is the reference result.
    const control = await api.submit({ type: 'debug-steps', input: { steps: 5, stepMs: 50 } });
    // Takeover ≈ lock expiry + one stalled check (2 × LOCK_MS), then steps 3–5.
    const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 45_000);
    const reference = await api.waitFor(control.body.id, ['completed', 'failed', 'canceled'], 30_000);

    expect(reference.status).toBe('completed');
    expect(job.status).toBe('completed');
    expect(job.result).toEqual(reference.result);
    expect(job.result).toEqual({ steps: 5 });
    expect(job.attempts).toBe(2);
    expect(job.error).toBeNull();
    expect(job.progress.pct).toBe(100);
    expect(job.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['step-1', 'completed', 1],
      ['step-2', 'completed', 1],
      ['step-3', 'completed', 2],
      ['step-4', 'completed', 1],
      ['step-5', 'completed', 1],
    ]);

    // The event history across both attempts: seq 1..n with no gap or duplicate, one
    // `running` status per attempt, and the terminal event last.
    const events = await readEvents(stack.url, apiKey, id);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.event === 'status' && e.data.status === 'running').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(events.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps: 5 } } });
  });
});
