/**
 * Events are fenced on the attempt (events/redis-buffer.ts): a worker that lost the job (a
 * stall, a partition) and keeps emitting must not number events that collide with the new
 * attempt's seqs or land after its terminal event, in Redis or in PostgreSQL. In one process,
 * the stale attempt's closing write must not take the new attempt's pending events, nor its
 * `finally` unregister the new attempt's controller.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { EventWriter } from '@spool/core/events';
import { executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';

describe('events of an attempt that lost the job', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());

  it('are refused: the new attempt’s terminal event keeps the last seq, in Redis, in PostgreSQL and in a replay', async () => {
    const events = new EventWriter(h.database.db, h.buffer, log); // default 100 ms batches
    const id = await h.submit();
    const gate = latch();
    const entered = latch();
    const stale = testJob(async (_input, ctx) => {
      // A long step, e.g. a model stream: tokens flow inside one step, no checkpoint between.
      await ctx.step('stream', async () => {
        entered.open();
        await gate.opened;
        for (const t of ['a', 'b', 'c']) ctx.emit({ text: t });
        await sleep(400); // the stream goes on; the 100 ms batch is written meanwhile
        return 'done';
      });
      return {};
    });
    const fresh = testJob(async () => ({ from: 'fresh' }));

    const running = executeAttempt(
      { db: h.database.db, events, log, running: new Map() },
      { jobId: id, def: stale, isLastAttempt: false, attemptsMade: 0 },
    );
    await entered.opened;
    // BullMQ's stalled check hands the job to another worker, which runs it to the end.
    const other = new EventWriter(h.database.db, h.buffer, log);
    const won = await executeAttempt(
      { db: h.database.db, events: other, log, running: new Map() },
      { jobId: id, def: fresh, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(won.kind).toBe('completed');
    await other.close();
    gate.open();
    expect((await running).kind).toBe('lease_lost');
    await events.close();

    const job = await h.jobs.get(h.tenantId, id);
    const rows = await h.storedEvents(id);
    const terminal = rows.find((r) => r.type === 'completed')!;
    const buffered = await h.buffer.after(id, 0);

    const seqs = buffered.map((e) => e.seq);
    // Spec: seq is unique per job, and the terminal event has the last seq.
    expect(new Set(seqs).size, 'two different events share a seq in the replay buffer').toBe(seqs.length);
    expect(rows.at(-1)!.seq, 'an event was stored after the terminal one').toBe(terminal.seq);
    expect(job.status).toBe('completed');
    // A subscriber to the ended job: its stream ends with the terminal event, no stale token in it.
    const seen = await h.replay(id);
    expect(seen.at(-1)!.type).toBe('completed');
    expect(seen.filter((e) => e.type === 'delta')).toEqual([]);
  });

  it('same process: the stale attempt’s closing write leaves the new attempt’s pending events and controller alone', async () => {
    // One EventWriter per worker process, shared by all its attempts. flushMs long so the
    // 100 ms batch does not race the test; in production any event younger than 100 ms is at risk.
    const events = new EventWriter(h.database.db, h.buffer, log, { flushMs: 5_000 });
    const running = new Map<string, AbortController>();
    const id = await h.submit();
    const staleGate = latch();
    const freshGate = latch();
    const staleEntered = latch();
    const freshEntered = latch();
    const staleDef = testJob(async () => {
      staleEntered.open();
      await staleGate.opened;
      return {};
    });
    const freshDef = testJob(async (_input, ctx) => {
      ctx.progress(10, 'fresh 1');
      ctx.progress(20, 'fresh 2');
      freshEntered.open();
      await freshGate.opened;
      return { from: 'fresh' };
    });
    const staleRun = executeAttempt(
      { db: h.database.db, events, log, running },
      { jobId: id, def: staleDef, isLastAttempt: false, attemptsMade: 0 },
    );
    await staleEntered.opened;
    const freshRun = executeAttempt(
      { db: h.database.db, events, log, running },
      { jobId: id, def: freshDef, isLastAttempt: false, attemptsMade: 0 },
    );
    await freshEntered.opened;
    staleGate.open();
    expect((await staleRun).kind).toBe('lease_lost');
    const freshControllerRegistered = running.has(id);
    freshGate.open();
    expect((await freshRun).kind).toBe('completed');
    await events.close();

    const rows = await h.storedEvents(id);
    const seqs = rows.map((r) => r.seq);
    const gaps = seqs.filter((s, i) => i > 0 && s !== seqs[i - 1]! + 1);
    expect(gaps, 'PostgreSQL history has a gap: the fresh attempt’s progress events were dropped').toEqual([]);
    expect(freshControllerRegistered, 'the stale attempt’s finally removed the fresh attempt’s AbortController').toBe(true);
  });
});
