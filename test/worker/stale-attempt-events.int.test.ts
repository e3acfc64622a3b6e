/**
 * Events are fenced on the attempt (events/redis-buffer.ts): a worker that lost the job (a
 * stall, a partition) and keeps emitting must not number events that collide with the new
 * attempt's seqs or land after its terminal event, in Redis or in PostgreSQL. In one process,
 * the stale attempt's closing write must not take the new attempt's pending events, nor its
 * `finally` unregister the new attempt's controller.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBuffer, EventWriter, followJob } from '@spool/core/events';
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
import { randomPrefix } from '../support/stack.ts';

const log = createLogger('silent');

const gated = (name: string, handle: AnyJobDefinition['handle']): AnyJobDefinition =>
  defineJob({
    name,
    description: 'gated',
    input: z.any(),
    output: z.any(),
    retry: { attempts: 3, backoffMs: 10 },
    timeoutMs: 20_000,
    concurrency: 1,
    handle,
  });

describe('events of an attempt that lost the job', () => {
  let database: TestDatabase;
  let redis: ReturnType<typeof createRedis>;
  let buffer: EventBuffer;
  let jobs: JobService;
  let tenantId: string;
  const close: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    redis = createRedis(REDIS_URL, 'worker');
    const prefix = randomPrefix();
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
    database.db.query<{ seq: number; type: string; data: Record<string, unknown> }>(
      sql`SELECT seq, type, data FROM job_events WHERE job_id = ${id} ORDER BY seq`,
    );

  it('are refused: the new attempt’s terminal event keeps the last seq, in Redis and in PostgreSQL', async () => {
    const events = new EventWriter(database.db, buffer, log); // default 100 ms batches
    const id = await submit();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let inStep!: () => void;
    const entered = new Promise<void>((r) => {
      inStep = r;
    });
    const stale = gated('debug-steps', async (_input, ctx) => {
      // A long step, e.g. a model stream: tokens flow inside one step, no checkpoint between.
      await ctx.step('stream', async () => {
        inStep();
        await gate;
        for (const t of ['a', 'b', 'c']) ctx.emit({ text: t });
        await sleep(400); // the stream goes on; the 100 ms batch is written meanwhile
        return 'done';
      });
      return {};
    });
    const fresh = gated('debug-steps', async () => ({ from: 'fresh' }));

    const running = executeAttempt(
      { db: database.db, events, log, running: new Map() },
      { jobId: id, def: stale, isLastAttempt: false, attemptsMade: 0 },
    );
    await entered;
    // BullMQ's stalled check hands the job to another worker, which runs it to the end.
    const other = new EventWriter(database.db, buffer, log);
    const won = await executeAttempt(
      { db: database.db, events: other, log, running: new Map() },
      { jobId: id, def: fresh, isLastAttempt: false, attemptsMade: 0 },
    );
    expect(won.kind).toBe('completed');
    await other.close();
    release();
    expect((await running).kind).toBe('lease_lost');
    await events.close();

    const job = await jobs.get(tenantId, id);
    const rows = await pgEvents(id);
    const terminal = rows.find((r) => r.type === 'completed')!;
    const buffered = await buffer.after(id, 0);

    const seqs = buffered.map((e) => e.seq);
    // Spec: seq is unique per job, and the terminal event has the last seq.
    expect(new Set(seqs).size, 'two different events share a seq in the replay buffer').toBe(seqs.length);
    expect(rows.at(-1)!.seq, 'an event was stored after the terminal one').toBe(terminal.seq);
    expect(job.status).toBe('completed');
  });

  it('never reach a replay of the ended job: it ends with the terminal event', async () => {
    const events = new EventWriter(database.db, buffer, log);
    const id = await submit();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let inStep!: () => void;
    const entered = new Promise<void>((r) => {
      inStep = r;
    });
    const stale = gated('debug-steps', async (_input, ctx) => {
      await ctx.step('stream', async () => {
        inStep();
        await gate;
        for (let i = 0; i < 5; i++) ctx.emit({ text: `t${i}` });
        await sleep(400);
        return 'done';
      });
      return {};
    });
    const running = executeAttempt(
      { db: database.db, events, log, running: new Map() },
      { jobId: id, def: stale, isLastAttempt: false, attemptsMade: 0 },
    );
    await entered;
    const other = new EventWriter(database.db, buffer, log);
    await executeAttempt(
      { db: database.db, events: other, log, running: new Map() },
      {
        jobId: id,
        def: gated('debug-steps', async () => ({})),
        isLastAttempt: false,
        attemptsMade: 0,
      },
    );
    await other.close();
    release();
    await running;
    await events.close();

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
      maxBuffered: 1000,
      signal: abort.signal,
    })) {
      seen.push(`${e.seq}:${e.type}${e.type === 'delta' ? `(attempt ${e.data.attempt})` : ''}`);
    }
    expect(seen.at(-1)).toMatch(/completed/);
    expect(seen.filter((e) => e.includes('delta'))).toEqual([]);
  });

  it('same process: the stale attempt’s closing write leaves the new attempt’s pending events and controller alone', async () => {
    // One EventWriter per worker process, shared by all its attempts. flushMs long so the
    // 100 ms batch does not race the test; in production any event younger than 100 ms is at risk.
    const events = new EventWriter(database.db, buffer, log, { flushMs: 5_000 });
    const running = new Map<string, AbortController>();
    const id = await submit();
    let releaseStale!: () => void;
    const staleGate = new Promise<void>((r) => {
      releaseStale = r;
    });
    let releaseFresh!: () => void;
    const freshGate = new Promise<void>((r) => {
      releaseFresh = r;
    });
    let staleIn!: () => void;
    const staleEntered = new Promise<void>((r) => {
      staleIn = r;
    });
    let freshIn!: () => void;
    const freshEntered = new Promise<void>((r) => {
      freshIn = r;
    });
    const staleDef = gated('debug-steps', async () => {
      staleIn();
      await staleGate;
      return {};
    });
    const freshDef = gated('debug-steps', async (_input, ctx) => {
      ctx.progress(10, 'fresh 1');
      ctx.progress(20, 'fresh 2');
      freshIn();
      await freshGate;
      return { from: 'fresh' };
    });
    const staleRun = executeAttempt(
      { db: database.db, events, log, running },
      { jobId: id, def: staleDef, isLastAttempt: false, attemptsMade: 0 },
    );
    await staleEntered;
    const freshRun = executeAttempt(
      { db: database.db, events, log, running },
      { jobId: id, def: freshDef, isLastAttempt: false, attemptsMade: 0 },
    );
    await freshEntered;
    releaseStale();
    expect((await staleRun).kind).toBe('lease_lost');
    const freshControllerRegistered = running.has(id);
    releaseFresh();
    expect((await freshRun).kind).toBe('completed');
    await events.close();

    const rows = await pgEvents(id);
    const seqs = rows.map((r) => r.seq);
    const gaps = seqs.filter((s, i) => i > 0 && s !== seqs[i - 1]! + 1);
    expect(gaps, 'PostgreSQL history has a gap: the fresh attempt’s progress events were dropped').toEqual([]);
    expect(freshControllerRegistered, 'the stale attempt’s finally removed the fresh attempt’s AbortController').toBe(true);
  });
});
