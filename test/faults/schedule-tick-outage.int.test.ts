/**
 * Schedule ticks through a PostgreSQL outage longer than a tick's own tries (5, over 15 s): a
 * tick now waits for PostgreSQL as a job does, and every tick due during the outage makes its
 * job once PostgreSQL is back. They failed for good in BullMQ, unrecorded (last_error could not
 * be written either). A managed failover easily takes that long.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, type Database } from '@spool/core/db';
import { type RunningWorker, startWorker } from '@spool/worker';
import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { type PgProxy, startPgProxy } from '../support/pg-proxy.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('schedule ticks during a PostgreSQL outage', () => {
  let stack: Stack;
  let proxy: PgProxy;
  let wdb: Database;
  let worker: RunningWorker;
  let ticks: Queue;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
    proxy = await startPgProxy();
    // The worker reaches PostgreSQL through the proxy; the API (and the test) directly.
    wdb = await createDatabase({ url: proxy.through(stack.database.url), dataDir: '', poolSize: 10 });
    worker = await startWorker(
      { db: wdb, registry: stack.api.registry, log: stack.api.log },
      { redisUrl: REDIS_URL, prefix: stack.prefix, lockMs: 5_000, concurrency: {}, reconcileIntervalMs: 500 },
    );
    ticks = new Queue('schedules', { connection: { url: REDIS_URL }, prefix: stack.prefix });
  });
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await ticks?.close();
    await worker?.close();
    await wdb?.close();
    await stack?.close();
    await proxy?.close();
  });

  it('every tick due during an 18 s outage makes its job once PostgreSQL is back', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const res = await api.call('POST', '/v1/schedules', {
      cron: '*/2 * * * * *',
      job: { type: 'debug-steps', input: { steps: 1 } },
    });
    expect(res.status).toBe(201);
    const scheduleId = res.body.id as string;
    const jobKeys = async () =>
      new Set(
        (
          await stack.database.db.query<{ k: string }>(
            sql`SELECT idempotency_key AS k FROM jobs WHERE metadata->>'scheduleId' = ${scheduleId}`,
          )
        ).map((r) => r.k),
      );
    // Works before the fault.
    for (let i = 0; i < 100 && (await jobKeys()).size === 0; i++) await sleep(100);
    expect((await jobKeys()).size).toBeGreaterThan(0);

    const cutAt = Date.now();
    await proxy.cut('refuse');
    await sleep(18_000);
    await proxy.restore();
    const restoredAt = Date.now();
    await sleep(6_000); // the waiting ticks make their jobs

    const failed = await ticks.getFailed(0, 1_000);
    const keys = await jobKeys();
    const lost = failed.map((t) => `schedule:${scheduleId}:${t.opts.prevMillis ?? t.timestamp}`).filter((k) => !keys.has(k));
    expect(lost, 'ticks that failed for good during the outage and made no job').toEqual([]);
    // One job per tick, every 2 s, from before the outage to after it: no gap.
    const times = [...keys].map((k) => Number(k.split(':').at(-1))).sort((x, y) => x - y);
    expect(times[0]).toBeLessThan(cutAt);
    expect(times.at(-1)).toBeGreaterThan(restoredAt);
    expect(times.slice(1).filter((t, i) => t - times[i]! !== 2_000)).toEqual([]);
  }, 90_000);
});
