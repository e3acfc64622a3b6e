/**
 * BullMQ's stalled check moves an active job back to wait when its worker's lock
 * lapses (event loop blocked, Redis partition), while that worker still runs it. If that
 * worker then writes a FINAL failure (its claim is still the latest: nobody else claimed yet),
 * the copy in `wait` is picked up next. The job failed for good (its job.failed webhook is
 * recorded, SSE closed on `failed`): it must not be reopened and run again. An operator's retry
 * in Bull Board still reopens it (test/dashboard/bull-board-retry.int.test.ts).
 */

import { SpoolError } from '@spool/core/errors';
import { createRedis } from '@spool/core/redis';
import { executeAttempt } from '@spool/core/steps';
import { Worker } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcessor } from '../../apps/worker/src/run-job.ts';
import { type AttemptHarness, attemptHarness, log, testJob } from '../support/attempts.ts';
import { REDIS_URL } from '../support/env.ts';

describe('a job that stalled, then failed for good', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());

  it('is not run again', async () => {
    const [submitted] = await h.jobs.submit(h.tenantId, [
      { type: 'debug-steps', input: { steps: 1 }, webhook: { url: 'http://127.0.0.1:9/hook' } },
    ]);
    const id = submitted!.job.id;

    // Worker 1 takes the job from BullMQ.
    const conn1 = createRedis(REDIS_URL, 'worker');
    const w1 = new Worker('debug-steps', null, { connection: conn1, prefix: h.prefix, autorun: false, lockDuration: 30_000 });
    const job = await w1.getNextJob('w1-token');
    expect(job?.id).toBe(id);

    // Its lock lapses while it runs; BullMQ's stalled check (two passes) moves the job back to wait.
    const checker = new Worker('debug-steps', null, {
      connection: createRedis(REDIS_URL, 'worker'),
      prefix: h.prefix,
      autorun: false,
    });
    const moveStalled = () => (checker as unknown as { moveStalledJobsToWait(): Promise<unknown> }).moveStalledJobsToWait();
    await moveStalled();
    await h.redis.del(`${h.prefix}:debug-steps:${id}:lock`, `${h.prefix}:debug-steps:stalled-check`); // lock lapsed; next check period
    await moveStalled();
    expect(await h.redis.lindex(`${h.prefix}:debug-steps:wait`, 0)).toBe(id);

    // Worker 1 is still running its attempt, and it fails for good (a non-retryable error).
    const failing = testJob(async () => {
      throw new SpoolError('bad_input', 'cannot be done', { retryable: false });
    });
    const outcome = await executeAttempt(
      { db: h.database.db, events: h.events, log, running: new Map() },
      { jobId: id, def: failing, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(outcome.kind).toBe('failed');
    expect((await h.jobs.get(h.tenantId, id)).status).toBe('failed');

    // Worker 2 takes the copy in `wait`.
    let ran = 0;
    const w2 = new Worker(
      'debug-steps',
      createProcessor(
        { db: h.database.db, events: h.events, log, running: new Map() },
        testJob(async () => {
          ran++;
          return { second: true };
        }),
      ),
      { connection: createRedis(REDIS_URL, 'worker'), prefix: h.prefix },
    );
    await new Promise<void>((resolve) => w2.on('completed', () => resolve()));
    await w2.close();
    await checker.close();
    await w1.close();

    const after = await h.jobs.get(h.tenantId, id);
    const deliveries = await h.database.db.query<{ event_type: string }>(
      sql`SELECT event_type FROM webhook_deliveries WHERE job_id = ${id} ORDER BY created_at`,
    );
    const evs = await h.database.db.query<{ seq: number; type: string }>(
      sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );
    expect(ran, 'a job that failed for good ran again').toBe(0);
    expect(after.status).toBe('failed');
    expect(deliveries.map((d) => d.event_type)).toEqual(['job.failed']);
    expect(evs.at(-1)!.type).toBe('failed');
  });
});
