/**
 * A job's step rows after its attempt ends: an ended job shows no step running, and a step's
 * `runs` counts the runs of its body. A step whose body ignored ctx.signal past a timeout or a
 * cancel showed `running` on the ended job for ever; a cancel seen at a step's start left a run
 * (`runs + 1`, `running`) of a body that never ran.
 */
import { canceledError, executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';

describe('step rows when an attempt ends', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());
  const deps = () => ({ db: h.database.db, events: h.events, log, running: new Map<string, AbortController>() });

  it("a cancel seen at a step's start leaves no run of it", async () => {
    const id = await h.submit();
    let bodyRuns = 0;
    const gate = latch();
    const def = (waitFirst: boolean) =>
      testJob(async (_i, ctx) => {
        await ctx.step('a', () => 1);
        if (waitFirst) await gate.opened;
        await ctx.step('b', () => {
          bodyRuns++;
          return 2;
        });
        return {};
      });

    const first = executeAttempt(deps(), { jobId: id, def: def(true), isLastAttempt: false, attemptsMade: 0 });
    await new Promise((r) => setTimeout(r, 200));
    // POST /v1/jobs/:id/cancel on a running job; no worker subscriber here hears its broadcast.
    const asked = await h.jobs.cancel(h.tenantId, id);
    expect(asked.cancelRequested).toBe(true);
    gate.open();
    expect((await first).kind).toBe('canceled');

    const canceled = await h.jobs.get(h.tenantId, id);
    expect(canceled.status).toBe('canceled');
    // Key assertion 1: no step of the canceled job is `running` (b never began).
    expect(canceled.steps.map((s) => [s.name, s.status, s.runs])).not.toContainEqual(['b', 'running', 1]);

    await h.jobs.retry(h.tenantId, id);
    expect((await executeAttempt(deps(), { jobId: id, def: def(false), isLastAttempt: false, attemptsMade: 0 })).kind).toBe(
      'completed',
    );
    const done = await h.jobs.get(h.tenantId, id);
    expect(bodyRuns).toBe(1);
    // Key assertion 2: runs counts executions of the body: b ran once.
    expect(done.steps.find((s) => s.name === 'b')?.runs).toBe(bodyRuns);
  });

  it('timed out on the last attempt: the failed job has no step still running', async () => {
    const id = await h.submit();
    const def = testJob(async (_i, ctx) => {
      await ctx.step('stuck', () => new Promise(() => {})); // ignores ctx.signal
      return {};
    }, 300);
    const outcome = await executeAttempt(deps(), { jobId: id, def, isLastAttempt: true, attemptsMade: 0 });
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'timeout' } });
    const job = await h.jobs.get(h.tenantId, id);
    expect(job.status).toBe('failed');
    // Key assertion: a terminal job does not report a step as running.
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([['stuck', 'failed']]);
  });

  it('canceled: the canceled job has no step still running', async () => {
    const id = await h.submit();
    const d = deps();
    const def = testJob(async (_i, ctx) => {
      await ctx.step('stuck', () => new Promise(() => {}));
      return {};
    });
    const running = executeAttempt(d, { jobId: id, def, isLastAttempt: true, attemptsMade: 0 });
    await new Promise((r) => setTimeout(r, 200));
    d.running.get(id)!.abort(canceledError());
    expect((await running).kind).toBe('canceled');
    const job = await h.jobs.get(h.tenantId, id);
    expect(job.status).toBe('canceled');
    expect(job.steps.map((s) => [s.name, s.status])).toEqual([['stuck', 'failed']]);
  });
});
