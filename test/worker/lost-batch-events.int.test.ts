/**
 * A worker killed between publishing events and writing their batch leaves them only in the
 * Redis buffer, which expires (1 h, or a Redis restart). The attempt that takes the job over
 * writes them to PostgreSQL, so a finished job's stored history has no gap.
 */
import type { Database } from '@spool/core/db';
import { EventWriter, eventKey } from '@spool/core/events';
import { executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';

let h: AttemptHarness;
beforeAll(async () => {
  h = await attemptHarness();
});
afterAll(() => h?.close());

it('the next attempt stores the events a killed attempt only published', async () => {
  const id = await h.submit();
  // The doomed worker's PostgreSQL never answers its event batches: it dies before they land.
  const hung: Database = Object.assign(Object.create(h.database.db), { query: () => new Promise(() => {}) });
  const doomedEvents = new EventWriter(hung, h.buffer, log, { flushMs: 10 });
  const emitted = latch();
  const doomed = testJob(async (_input, ctx) => {
    await ctx.step('first', () => 1);
    for (let pct = 10; pct <= 50; pct += 10) ctx.progress(pct, `at ${pct}`);
    emitted.open();
    await new Promise(() => {}); // killed here
    return {};
  });
  void executeAttempt(
    { db: h.database.db, events: doomedEvents, log, running: new Map() },
    { jobId: id, def: doomed, isLastAttempt: false, attemptsMade: 0 },
  );
  await emitted.opened;
  await new Promise((r) => setTimeout(r, 100));

  // The stalled job is taken over and finishes.
  const events = new EventWriter(h.database.db, h.buffer, log);
  const takeover = testJob(async (_input, ctx) => {
    await ctx.step('first', () => 1);
    ctx.progress(100, 'done');
    return {};
  });
  const outcome = await executeAttempt(
    { db: h.database.db, events, log, running: new Map() },
    { jobId: id, def: takeover, isLastAttempt: false, attemptsMade: 0 },
  );
  expect(outcome.kind).toBe('completed');
  // No flush: the closing write itself carries the recovered events.

  // The buffer expires; PostgreSQL alone must hold the whole history.
  await h.redis.del(eventKey(h.prefix, id));
  const stored = await h.storedEvents(id);
  const seqs = stored.map((e) => e.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  expect(stored.filter((e) => e.type === 'progress').map((e) => (e.data as { pct: number }).pct)).toEqual([
    10, 20, 30, 40, 50, 100,
  ]);
  expect(stored.at(-1)!.type).toBe('completed');
  expect((await h.jobs.get(h.tenantId, id)).progress).toEqual({ pct: 100, message: 'done' });
});
