/**
 * Events numbered outside a worker (the reconciler's repairs, the API's cancel and retry) must go
 * above the Redis buffer, not only above jobs.last_seq: a worker that died less than a batch
 * (100 ms) after emitting events, or whose claim a crash of PostgreSQL undid after its `running`
 * event went out, left seqs above jobs.last_seq in the buffer, and clients may already have them.
 */

import { Reconciler } from '@spool/core/queue';
import { claimJob } from '@spool/core/store/lease';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, log } from '../support/attempts.ts';

describe('event seqs numbered outside a worker', () => {
  let h: AttemptHarness;
  let reconciler: Reconciler;
  beforeAll(async () => {
    h = await attemptHarness();
    const { database, redis, queues, registry, buffer } = h;
    reconciler = new Reconciler({ db: database.db, redis, queues, registry, buffer, log }, { intervalMs: 1_000, graceMs: 0 });
  });
  afterAll(() => h?.close());

  it('the stalled `failed` event is the last seq of the job', async () => {
    const id = (await h.jobs.submit(h.tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
    // The last worker to run it: claim (seq 2), then progress 3 and 4 buffered, then killed
    // before the 100 ms batch reached PostgreSQL.
    const claim = await claimJob(h.database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
    expect(claim!.last_seq).toBe(2);
    await h.buffer.append(id, [
      { seq: 3, type: 'progress', data: { pct: 10 } },
      { seq: 4, type: 'progress', data: { pct: 20 } },
    ]);
    // BullMQ gives up on it: stalled more than maxStalledCount (what moveStalledJobsToWait writes).
    await h.redis.hset(
      `${h.prefix}:debug-steps:${id}`,
      'finishedOn',
      String(Date.now()),
      'failedReason',
      'job stalled more than allowable limit',
    );

    const report = await reconciler.runOnce();
    expect(report?.failed).toBe(1);

    const stored = await h.database.db.query<{ seq: number; type: string }>(
      sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );
    const buffered = await h.buffer.after(id, 0);

    const seen = (await h.replay(id)).map((e) => `${e.seq}:${e.type}`);
    const failedSeq = stored.find((e) => e.type === 'failed')!.seq;
    expect(
      buffered.some((e) => e.seq === failedSeq),
      'the failed event reuses a seq a client may already have',
    ).toBe(false);
    expect(seen.at(-1)).toMatch(/failed/);
  });

  it('a cancel of a queued job and its retry number above the h.buffer', async () => {
    const id = (await h.jobs.submit(h.tenantId, [{ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 }]))[0]!.job.id;
    // A claim's `running` event (seq 2) went out, then a crash of PostgreSQL undid the claim.
    await h.buffer.append(id, [{ seq: 2, type: 'status', data: { status: 'running', attempt: 1 } }]);

    await h.jobs.cancel(h.tenantId, id);
    await h.jobs.retry(h.tenantId, id);
    const stored = await h.database.db.query<{ seq: number; type: string }>(
      sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );
    expect(stored.map((e) => `${e.seq}:${e.type}`)).toEqual(['1:status', '3:canceled', '4:status']);
  });
});
