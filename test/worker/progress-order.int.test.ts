/**
 * A job's `progress` moves only forward. The event writer's batch can still be in flight when
 * the attempt's closing write commits (it took only the events the batch had not): that late
 * batch must not put an older progress back over the final one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '@spool/core/db';
import { EventWriter } from '@spool/core/events';
import { executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, log, testJob } from '../support/attempts.ts';

let h: AttemptHarness;
beforeAll(async () => {
  h = await attemptHarness();
});
afterAll(() => h?.close());

it('a batch that commits after the closing write leaves the final progress', async () => {
  const id = await h.submit();
  // The writer's batches reach PostgreSQL 300 ms late: the first is in flight when the job ends.
  const slow: Database = Object.assign(Object.create(h.database.db), {
    query: async (statement: Parameters<Database['query']>[0]) => {
      await sleep(300);
      return h.database.db.query(statement);
    },
  });
  const events = new EventWriter(slow, h.buffer, log, { flushMs: 50 });
  const def = testJob(async (_input, ctx) => {
    ctx.progress(50, 'half');
    await sleep(150); // the batch holding the 50 % is taken and on its way
    ctx.progress(100, 'done');
    return {};
  });
  const outcome = await executeAttempt(
    { db: h.database.db, events, log, running: new Map() },
    { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
  );
  expect(outcome.kind).toBe('completed');
  await events.close(); // the late batch commits here

  const job = await h.jobs.get(h.tenantId, id);
  expect(job.status).toBe('completed');
  expect(job.progress).toEqual({ pct: 100, message: 'done' });
  const stored = (await h.storedEvents(id)).filter((e) => e.type === 'progress');
  expect(stored.map((e) => e.data)).toEqual([
    { pct: 50, message: 'half' },
    { pct: 100, message: 'done' },
  ]);
});
