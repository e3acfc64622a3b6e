/**
 * One attempt, driven directly (no BullMQ): fencing against a takeover, per-type timeout,
 * cancellation of a handler that ignores its signal, and step memoization across attempts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBuffer, EventWriter } from '@spool/core/events';
import { createRegistry, JobService } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { type AnyJobDefinition, createQueues, defineJob } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import { executeAttempt } from '@spool/core/steps';
import { claimJob, endAttempt } from '@spool/core/store/lease';
import { createTenant } from '@spool/core/tenants';
import { createWebhookProducer } from '@spool/core/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL } from '../support/env.ts';
import { randomPrefix } from '../support/stack.ts';

const log = createLogger('silent');

describe('an attempt', () => {
  let database: TestDatabase;
  let redis: ReturnType<typeof createRedis>;
  let events: EventWriter;
  let jobs: JobService;
  let tenantId: string;
  const close: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    redis = createRedis(REDIS_URL, 'worker');
    const prefix = randomPrefix();
    const buffer = new EventBuffer(redis, prefix);
    events = new EventWriter(database.db, buffer, log);
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
    await events.close();
    redis.disconnect();
    await database.drop();
  });

  const submit = async () => (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
  const deps = () => ({ db: database.db, events, log, running: new Map<string, AbortController>() });

  it('fences the closing write: a worker that lost the job cannot overwrite the one that took over', async () => {
    const id = await submit();
    const stale = await claimJob(database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
    const fresh = await claimJob(database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 }); // the takeover after a lost lock
    expect(fresh!.attempts).toBe(stale!.attempts + 1);

    const late = await endAttempt(database.db, {
      jobId: id,
      attemptsMade: 0,
      attempt: stale!.attempts,
      status: 'completed',
      result: { from: 'stale' },
      events: [{ seq: fresh!.last_seq + 1, type: 'completed', data: {} }],
    });
    expect(late.ok).toBe(false);
    const win = await endAttempt(database.db, {
      jobId: id,
      attemptsMade: 0,
      attempt: fresh!.attempts,
      status: 'completed',
      result: { from: 'fresh' },
      events: [{ seq: fresh!.last_seq + 1, type: 'completed', data: {} }],
    });
    expect(win.ok).toBe(true);
    const job = await jobs.get(tenantId, id);
    expect(job.result).toEqual({ from: 'fresh' });
  });

  it('a step of the stale worker is refused (lease_lost) once another took over', async () => {
    const id = await submit();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const def: AnyJobDefinition = defineJob({
      name: 'debug-steps',
      description: 'gated',
      input: z.any(),
      output: z.any(),
      retry: { attempts: 3, backoffMs: 10 },
      timeoutMs: 10_000,
      concurrency: 1,
      async handle(_input, ctx) {
        await gate;
        await ctx.step('after-takeover', () => 1);
        return {};
      },
    });
    const running = executeAttempt(deps(), { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    await sleep(200);
    await claimJob(database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 }); // another worker takes over
    release();
    expect((await running).kind).toBe('lease_lost');
    expect((await jobs.get(tenantId, id)).steps).toEqual([]);
  });

  it('times out a handler after timeoutMs and counts it as a retryable failure', async () => {
    const id = await submit();
    const def = defineJob({
      name: 'debug-steps',
      description: 'slow',
      input: z.any(),
      output: z.any(),
      retry: { attempts: 3, backoffMs: 10 },
      timeoutMs: 300,
      concurrency: 1,
      handle: () => sleep(5_000).then(() => ({})), // ignores ctx.signal on purpose
    });
    const started = Date.now();
    const outcome = await executeAttempt(deps(), { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(outcome).toMatchObject({ kind: 'retry', error: { code: 'timeout', retryable: true } });
    const job = await jobs.get(tenantId, id);
    expect(job.status).toBe('queued');
    expect(job.error).toMatchObject({ code: 'timeout' });
  });

  it('cancels a running handler that ignores ctx.signal', async () => {
    const id = await submit();
    const d = deps();
    const def = defineJob({
      name: 'debug-steps',
      description: 'stubborn',
      input: z.any(),
      output: z.any(),
      retry: { attempts: 3, backoffMs: 10 },
      timeoutMs: 60_000,
      concurrency: 1,
      handle: () => sleep(5_000).then(() => ({})),
    });
    const running = executeAttempt(d, { jobId: id, def, isLastAttempt: false, attemptsMade: 0 });
    await sleep(200);
    const abortedAt = Date.now();
    d.running.get(id)!.abort((await import('@spool/core/steps')).canceledError());
    expect((await running).kind).toBe('canceled');
    // A correctness bound, not a benchmark: the 1 s grace for a handler to settle, not its 5 s.
    expect(Date.now() - abortedAt).toBeLessThan(3_000);
    expect((await jobs.get(tenantId, id)).status).toBe('canceled');
  });

  it('rejects a step name used twice in one job', async () => {
    const id = await submit();
    const def = defineJob({
      name: 'debug-steps',
      description: 'dup',
      input: z.any(),
      output: z.any(),
      retry: { attempts: 1, backoffMs: 10 },
      timeoutMs: 10_000,
      concurrency: 1,
      async handle(_i, ctx) {
        await ctx.step('a', () => 1);
        await ctx.step('a', () => 2);
        return {};
      },
    });
    const outcome = await executeAttempt(deps(), { jobId: id, def, isLastAttempt: true, attemptsMade: 0 });
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'duplicate_step' } });
  });
});
