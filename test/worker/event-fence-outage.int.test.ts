/**
 * The event fence (events/redis-buffer.ts, steps/execute.ts) when Redis fails: an attempt that
 * cannot take its fence does not run (it could not be fenced out in turn), and a closing write
 * does not wait for an unreachable Redis (the events go to PostgreSQL alone).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBuffer, EventWriter } from '@spool/core/events';
import { createRegistry, JobService } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { type AnyJobDefinition, createQueues, defineJob } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import { executeAttempt } from '@spool/core/steps';
import { createTenant } from '@spool/core/tenants';
import { createWebhookProducer } from '@spool/core/webhooks';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL } from '../support/env.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { randomPrefix } from '../support/stack.ts';

const log = createLogger('silent');
const gated = (handle: AnyJobDefinition['handle']): AnyJobDefinition =>
  defineJob({
    name: 'debug-steps',
    description: 'gated',
    input: z.any(),
    output: z.any(),
    retry: { attempts: 3, backoffMs: 10 },
    timeoutMs: 20_000,
    concurrency: 1,
    handle,
  });

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
  let database: TestDatabase;
  let redis: ReturnType<typeof createRedis>;
  let buffer: EventBuffer;
  let jobs: JobService;
  let tenantId: string;
  let prefix: string;
  const close: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    redis = createRedis(REDIS_URL, 'worker');
    prefix = randomPrefix();
    buffer = new EventBuffer(redis, prefix);
    const registry = createRegistry({ enableDebugJobs: true });
    const queues = createQueues(redis, prefix, registry.list, log);
    const webhooks = createWebhookProducer(redis, prefix, log);
    jobs = new JobService({ db: database.db, queues, registry, redis, buffer, webhooks, allowPrivateWebhooks: true, log });
    tenantId = (await createTenant(database.db, 't')).id;
    close.push(
      () => queues.close(),
      () => webhooks.close(),
    );
  });
  afterAll(async () => {
    for (const c of close) await c();
    redis.disconnect();
    await database.drop();
  });

  const submit = async () => (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
  const pgEvents = (id: string) =>
    database.db.query<{ seq: number; type: string }>(sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`);

  it('an attempt that cannot take its fence does not run: the error goes out (the worker steps aside)', async () => {
    const flaky = new FlakyBeginBuffer(redis, prefix);
    const events = new EventWriter(database.db, flaky, log);
    const id = await submit();
    let ran = 0;
    const def = gated(async () => {
      ran++;
      return {};
    });
    await expect(
      executeAttempt(
        { db: database.db, events, log, running: new Map() },
        { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
      ),
    ).rejects.toThrow(/OOM/);
    expect(ran).toBe(0);
    expect((await jobs.get(tenantId, id)).status).toBe('queued');
    // Taken again once Redis answers: it runs, fenced.
    const outcome = await executeAttempt(
      { db: database.db, events, log, running: new Map() },
      { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(outcome.kind).toBe('completed');
    await events.close();
    expect((await pgEvents(id)).map((e) => e.type)).toEqual(['status', 'status', 'completed']);
  });

  it('the closing write does not wait for an unreachable Redis (events go to PostgreSQL only)', async () => {
    const server = await startRedisServer();
    const eventsRedis = createRedis(server.url, 'events'); // as the worker's (worker.ts)
    eventsRedis.on('error', () => {});
    try {
      const privBuffer = new EventBuffer(eventsRedis, prefix);
      const events = new EventWriter(database.db, privBuffer, log);
      const id = await submit();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inside!: () => void;
      const entered = new Promise<void>((r) => (inside = r));
      const def = gated(async (_input, ctx) => {
        ctx.progress(10, 'before');
        inside();
        await gate;
        ctx.progress(90, 'during the outage');
        return { ok: true };
      });
      const run = executeAttempt(
        { db: database.db, events, log, running: new Map() },
        { jobId: id, def, isLastAttempt: false, attemptsMade: 0 },
      );
      await entered;
      await sleep(100);
      await server.stop();
      release();
      const outcome = await Promise.race([run.then((o) => o.kind), sleep(5_000).then(() => 'still waiting after 5 s')]);
      expect(outcome).toBe('completed');
      // The progress reported during the outage reached PostgreSQL with the closing write.
      expect(await jobs.get(tenantId, id)).toMatchObject({
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
