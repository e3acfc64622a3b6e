/**
 * The event fence (events/redis-buffer.ts, steps/execute.ts) when Redis fails: an attempt that
 * cannot take its fence does not run (it could not be fenced out in turn), and a closing write
 * does not wait for an unreachable Redis (the events go to PostgreSQL alone).
 */

import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBuffer, EventWriter } from '@spool/core/events';
import { createRedis } from '@spool/core/redis';
import { executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';
import { startRedisServer } from '../support/redis-server.ts';

/** A buffer whose first begin() fails, as when Redis answers an error (OOM under noeviction, a blip) at the claim. */
class FlakyBeginBuffer extends EventBuffer {
  failed = false;
  override async begin(jobId: string) {
    if (!this.failed) {
      this.failed = true;
      throw new Error('OOM command not allowed when used memory > maxmemory');
    }
    return super.begin(jobId);
  }
}

describe('the event fence when Redis fails', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());

  it('an attempt that cannot take its fence does not run: the error goes out (the worker steps aside)', async () => {
    const flaky = new FlakyBeginBuffer(h.redis, h.prefix);
    const events = new EventWriter(h.database.db, flaky, log);
    const id = await h.submit();
    let ran = 0;
    const def = testJob(async () => {
      ran++;
      return {};
    });
    await expect(
      executeAttempt(
        { db: h.database.db, events, log, running: new Map() },
        { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
      ),
    ).rejects.toThrow(/OOM/);
    expect(ran).toBe(0);
    expect((await h.jobs.get(h.tenantId, id)).status).toBe('queued');
    // Taken again once Redis answers: it runs, fenced.
    const outcome = await executeAttempt(
      { db: h.database.db, events, log, running: new Map() },
      { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(outcome.kind).toBe('completed');
    await events.close();
    expect((await h.storedEvents(id)).map((e) => e.type)).toEqual(['status', 'status', 'completed']);
  });

  it('the closing write does not wait for an unreachable Redis (events go to PostgreSQL only)', async () => {
    const server = await startRedisServer();
    const eventsRedis = createRedis(server.url, 'events'); // as the worker's (worker.ts)
    eventsRedis.on('error', () => {});
    // No offline queue: a fence asked for before the connection is up fails at once (a worker
    // then steps aside), and the attempt below would never start.
    if (eventsRedis.status !== 'ready') await once(eventsRedis, 'ready');
    try {
      const privBuffer = new EventBuffer(eventsRedis, h.prefix);
      const events = new EventWriter(h.database.db, privBuffer, log);
      const id = await h.submit();
      const gate = latch();
      const entered = latch();
      const def = testJob(async (_input, ctx) => {
        ctx.progress(10, 'before');
        entered.open();
        await gate.opened;
        ctx.progress(90, 'during the outage');
        return { ok: true };
      });
      const run = executeAttempt(
        { db: h.database.db, events, log, running: new Map() },
        { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
      );
      await entered.opened;
      await sleep(100);
      await server.stop();
      gate.open();
      const outcome = await Promise.race([run.then((o) => o.kind), sleep(5_000).then(() => 'still waiting after 5 s')]);
      expect(outcome).toBe('completed');
      // The progress reported during the outage reached PostgreSQL with the closing write.
      expect(await h.jobs.get(h.tenantId, id)).toMatchObject({
        status: 'completed',
        progress: { pct: 90, message: 'during the outage' },
      });
      // let it finish before teardown
      await server.start();
      await run;
      await events.close();
    } finally {
      eventsRedis.disconnect();
      await server.stop();
    }
  }, 30_000);
});
