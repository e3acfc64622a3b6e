/**
 * One attempt, driven directly (no BullMQ): fencing against a takeover, per-type timeout,
 * cancellation of a handler that ignores its signal, and step memoization across attempts.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { executeAttempt } from '@spool/core/steps';
import { claimJob, endAttempt } from '@spool/core/store/lease';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';

describe('an attempt', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());

  const deps = () => ({ db: h.database.db, events: h.events, log, running: new Map<string, AbortController>() });

  it('fences the closing write: a worker that lost the job cannot overwrite the one that took over', async () => {
    const id = await h.submit();
    const stale = await claimJob(h.database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
    const fresh = await claimJob(h.database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 }); // the takeover after a lost lock
    expect(fresh!.attempts).toBe(stale!.attempts + 1);

    const late = await endAttempt(h.database.db, {
      jobId: id,
      attemptsMade: 0,
      attempt: stale!.attempts,
      status: 'completed',
      result: { from: 'stale' },
      events: [{ seq: fresh!.last_seq + 1, type: 'completed', data: {} }],
    });
    expect(late.ok).toBe(false);
    const win = await endAttempt(h.database.db, {
      jobId: id,
      attemptsMade: 0,
      attempt: fresh!.attempts,
      status: 'completed',
      result: { from: 'fresh' },
      events: [{ seq: fresh!.last_seq + 1, type: 'completed', data: {} }],
    });
    expect(win.ok).toBe(true);
    const job = await h.jobs.get(h.tenantId, id);
    expect(job.result).toEqual({ from: 'fresh' });
  });

  it('a step of the stale worker is refused (lease_lost) once another took over', async () => {
    const id = await h.submit();
    const gate = latch();
    const def = testJob(async (_input, ctx) => {
      await gate.opened;
      await ctx.step('after-takeover', () => 1);
      return {};
    });
    const running = executeAttempt(deps(), { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    await sleep(200);
    await claimJob(h.database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 }); // another worker takes over
    gate.open();
    expect((await running).kind).toBe('lease_lost');
    expect((await h.jobs.get(h.tenantId, id)).steps).toEqual([]);
  });

  it('times out a handler after timeoutMs and counts it as a retryable failure', async () => {
    const id = await h.submit();
    const def = testJob(() => sleep(5_000).then(() => ({})), 300); // ignores ctx.signal on purpose
    const started = Date.now();
    const outcome = await executeAttempt(deps(), { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(outcome).toMatchObject({ kind: 'retry', error: { code: 'timeout', retryable: true } });
    const job = await h.jobs.get(h.tenantId, id);
    expect(job.status).toBe('queued');
    expect(job.error).toMatchObject({ code: 'timeout' });
  });

  it('cancels a running handler that ignores ctx.signal', async () => {
    const id = await h.submit();
    const d = deps();
    const def = testJob(() => sleep(5_000).then(() => ({})), 60_000);
    const running = executeAttempt(d, { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    await sleep(200);
    const abortedAt = Date.now();
    d.running.get(id)!.abort((await import('@spool/core/steps')).canceledError());
    expect((await running).kind).toBe('canceled');
    // A correctness bound, not a benchmark: the 1 s grace for a handler to settle, not its 5 s.
    expect(Date.now() - abortedAt).toBeLessThan(3_000);
    expect((await h.jobs.get(h.tenantId, id)).status).toBe('canceled');
  });

  it('rejects a step name used twice in one job', async () => {
    const id = await h.submit();
    const def = testJob(async (_i, ctx) => {
      await ctx.step('a', () => 1);
      await ctx.step('a', () => 2);
      return {};
    });
    const outcome = await executeAttempt(deps(), { jobId: id, def, isLastAttempt: true, attemptsMade: 0 });
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'duplicate_step' } });
  });
});
