/**
 * A job's history is complete in PostgreSQL when its closing write commits, and its `progress`
 * is the last one reported: events reach PostgreSQL in batches on other connections, and the
 * closing write must not overtake one still on its way.
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

const seqs = async (id: string) => (await h.storedEvents(id)).map((e) => `${e.seq}:${e.type}`);

/** Runs one attempt of job `id` with this writer and handler; the job as a client reads it then. */
async function attempt(id: string, events: EventWriter, handle: Parameters<typeof testJob>[0]) {
  const outcome = await executeAttempt(
    { db: h.database.db, events, log, running: new Map() },
    { jobId: id, def: testJob(handle), isLastAttempt: false, attemptsMade: 0 },
  );
  expect(outcome.kind).toBe('completed');
  return h.jobs.get(h.tenantId, id);
}

it('the closing write waits for a batch in flight with the job’s events', async () => {
  const id = await h.submit();
  let n = 0;
  const slow: Database = Object.assign(Object.create(h.database.db), {
    query: async (statement: Parameters<Database['query']>[0]) => {
      // The first batch (50 %) is written at once; the second (100 %) reaches PostgreSQL 300 ms late.
      if (++n >= 2) await sleep(300);
      return h.database.db.query(statement);
    },
  });
  const events = new EventWriter(slow, h.buffer, log, { flushMs: 50 });
  // Read before the writer is closed: what a client sees once the job is completed.
  const job = await attempt(id, events, async (_input, ctx) => {
    ctx.progress(50, 'half');
    await sleep(150); // the 50 % is committed
    ctx.progress(100, 'done');
    await sleep(80); // the batch holding the 100 % is on its way
    return {};
  });
  expect(job.status).toBe('completed');
  expect(job.progress).toEqual({ pct: 100, message: 'done' });
  expect(await seqs(id)).toEqual(['1:status', '2:status', '3:progress', '4:progress', '5:completed']);
  await events.close();
});

it('the closing write waits for every append, also one that settles after a later one', async () => {
  const id = await h.submit();
  // The events connection drops while the progress append is on its way: ioredis rejects it
  // later (after its resend fails), and refuses the next append at once (no offline queue).
  let n = 0;
  const buffer = Object.assign(Object.create(h.buffer), {
    append: async (jobId: string, evs: never[], fence?: number) => {
      const k = ++n;
      if (k === 1) {
        await sleep(500);
        throw new Error('Connection is closed.');
      }
      if (k === 2) throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      return h.buffer.append(jobId, evs, fence);
    },
  });
  const events = new EventWriter(h.database.db, buffer, log);
  const job = await attempt(id, events, async (_input, ctx) => {
    ctx.progress(100, 'done');
    ctx.emit({ text: 'x' });
    return {};
  });
  expect(job.progress).toEqual({ pct: 100, message: 'done' });
  expect(await seqs(id)).toEqual(['1:status', '2:status', '3:progress', '4:delta', '5:completed']);
  await events.close();
});
