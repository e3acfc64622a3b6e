/**
 * Events numbered outside a worker (the reconciler's repairs, the API's cancel and retry) must go
 * above the Redis buffer, not only above jobs.last_seq: a worker that died less than a batch
 * (100 ms) after emitting events, or whose claim a crash of PostgreSQL undid after its `running`
 * event went out, left seqs above jobs.last_seq in the buffer, and clients may already have them.
 */
import { EventBuffer, followJob } from '@spool/core/events';
import { createRegistry, JobService } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { createQueues, Reconciler } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import { claimJob } from '@spool/core/store/lease';
import { createTenant } from '@spool/core/tenants';
import { createWebhookProducer } from '@spool/core/webhooks';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL } from '../support/env.ts';
import { randomPrefix } from '../support/stack.ts';

const log = createLogger('silent');

describe('event seqs numbered outside a worker', () => {
  let database: TestDatabase;
  let redis: ReturnType<typeof createRedis>;
  let buffer: EventBuffer;
  let jobs: JobService;
  let reconciler: Reconciler;
  let prefix: string;
  let tenantId: string;
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
    reconciler = new Reconciler({ db: database.db, redis, queues, registry, buffer, log }, { intervalMs: 1_000, graceMs: 0 });
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

  it('the stalled `failed` event is the last seq of the job', async () => {
    const id = (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
    // The last worker to run it: claim (seq 2), then progress 3 and 4 buffered, then killed
    // before the 100 ms batch reached PostgreSQL.
    const claim = await claimJob(database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
    expect(claim!.last_seq).toBe(2);
    await buffer.append(id, [
      { seq: 3, type: 'progress', data: { pct: 10 } },
      { seq: 4, type: 'progress', data: { pct: 20 } },
    ]);
    // BullMQ gives up on it: stalled more than maxStalledCount (what moveStalledJobsToWait writes).
    await redis.hset(
      `${prefix}:debug-steps:${id}`,
      'finishedOn',
      String(Date.now()),
      'failedReason',
      'job stalled more than allowable limit',
    );

    const report = await reconciler.runOnce();
    expect(report?.failed).toBe(1);

    const stored = await database.db.query<{ seq: number; type: string }>(
      sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );
    const buffered = await buffer.after(id, 0);

    const seen: string[] = [];
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 3_000);
    for await (const e of followJob({
      db: database.db,
      hub: undefined as never,
      buffer,
      jobId: id,
      after: 0,
      ended: true,
      maxBuffered: 1_000,
      signal: abort.signal,
    }))
      seen.push(`${e.seq}:${e.type}`);
    const failedSeq = stored.find((e) => e.type === 'failed')!.seq;
    expect(
      buffered.some((e) => e.seq === failedSeq),
      'the failed event reuses a seq a client may already have',
    ).toBe(false);
    expect(seen.at(-1)).toMatch(/failed/);
  });

  it('a cancel of a queued job and its retry number above the buffer', async () => {
    const id = (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 }]))[0]!.job.id;
    // A claim's `running` event (seq 2) went out, then a crash of PostgreSQL undid the claim.
    await buffer.append(id, [{ seq: 2, type: 'status', data: { status: 'running', attempt: 1 } }]);

    await jobs.cancel(tenantId, id);
    await jobs.retry(tenantId, id);
    const stored = await database.db.query<{ seq: number; type: string }>(
      sql`SELECT seq, type FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );
    expect(stored.map((e) => `${e.seq}:${e.type}`)).toEqual(['1:status', '3:canceled', '4:status']);
  });
});
