/**
 * A worker cut off from Redis, not from PostgreSQL: its BullMQ lock lapses and another worker
 * takes the job and ends it, while the first is still in a long step reporting progress. Its
 * events, refused nowhere (Redis could not fence them), went to PostgreSQL numbered by its own
 * count: they took the new attempt's seqs (its `completed` event was the one dropped) and set
 * the ended job's progress. PostgreSQL now fences such events on their attempt.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBuffer, EventWriter } from '@spool/core/events';
import { createRedis } from '@spool/core/redis';
import { executeAttempt } from '@spool/core/steps';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';
import { REDIS_URL } from '../support/env.ts';
import { type PgProxy, startPgProxy } from '../support/pg-proxy.ts';

describe('a stale attempt partitioned from Redis', () => {
  let h: AttemptHarness;
  let proxy: PgProxy; // a plain TCP proxy, here in front of Redis
  beforeAll(async () => {
    h = await attemptHarness();
    proxy = await startPgProxy(new URL(REDIS_URL));
  });
  afterAll(async () => {
    await proxy?.close();
    await h?.close();
  });

  it('its events neither replace the new attempt’s nor come after the terminal event', async () => {
    // Worker A: its event connection reaches Redis through the proxy (as worker.ts makes it).
    const aRedis = createRedis(proxy.through(REDIS_URL).replace(/^postgres/, 'redis'), 'events');
    aRedis.on('error', () => {});
    if (aRedis.status !== 'ready') await once(aRedis, 'ready');
    const aEvents = new EventWriter(h.database.db, new EventBuffer(aRedis, h.prefix), log);
    const id = await h.submit();
    const entered = latch();
    let stop = false;
    const staleDef = testJob(async (_input, ctx) => {
      await ctx.step('stream', async () => {
        entered.open();
        // A long step reporting progress (or streaming tokens) the whole time.
        for (let i = 1; !stop && i < 200; i++) {
          ctx.progress(i % 100, `stale ${i}`);
          await sleep(20);
        }
        return 'done';
      });
      return { from: 'stale' };
    });
    const staleRun = executeAttempt(
      { db: h.database.db, events: aEvents, log, running: new Map() },
      { jobId: id, def: staleDef, isLastAttempt: false, attemptsMade: 0 },
    );
    await entered.opened;
    await sleep(100);
    // The partition: A no longer reaches Redis; its BullMQ lock lapses and B takes the job.
    await proxy.cut('refuse');
    await sleep(300);

    const bEvents = new EventWriter(h.database.db, h.buffer, log);
    const freshDef = testJob(async (_input, ctx) => {
      ctx.progress(50, 'fresh');
      await sleep(150);
      return { from: 'fresh' };
    });
    const won = await executeAttempt(
      { db: h.database.db, events: bEvents, log, running: new Map() },
      { jobId: id, def: freshDef, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(won.kind).toBe('completed');
    await bEvents.close();
    await sleep(500); // A goes on streaming a while
    stop = true;
    // Its closing write is fenced out too.
    expect((await staleRun).kind).toBe('lease_lost');
    await aEvents.close();
    aRedis.disconnect();

    const job = await h.jobs.get(h.tenantId, id);
    const rows = await h.storedEvents(id);
    const terminal = rows.filter((r) => r.type === 'completed');
    const bRunning = rows.filter((r) => r.type === 'status' && (r.data as any).attempt === 2);
    const afterTerminal = rows.filter((r) => terminal[0] && r.seq > terminal[0].seq);
    const replayed = await h.replay(id);
    expect(job.status).toBe('completed');
    expect(replayed.at(-1)?.type, 'a subscriber replaying the completed job gets its terminal event last').toBe('completed');
    expect(bRunning.length, 'attempt 2’s running event is in the history').toBe(1);
    expect(terminal.length, 'the job has its completed event in PostgreSQL').toBe(1);
    expect(
      afterTerminal.map((r) => `${r.seq}:${r.type}:${JSON.stringify(r.data)}`),
      'events of the stale attempt stored after the terminal event',
    ).toEqual([]);
    expect(job.progress, 'the completed job’s progress is its final attempt’s, not the stale one’s').toEqual({
      pct: 50,
      message: 'fresh',
    });
  }, 30_000);
});
