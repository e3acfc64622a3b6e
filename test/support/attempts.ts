/**
 * For tests that drive attempts directly (executeAttempt, claims, closing writes, the
 * reconciler), without BullMQ workers or HTTP: a fresh database, the shared Redis under a random
 * prefix, the job service to submit with, and one tenant.
 */
import { EventBuffer, EventWriter, followJob, type JobEvent } from '@spool/core/events';
import { createRegistry, type JobRegistry, JobService, type SubmitRequest } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { type AnyJobDefinition, createQueues, defineJob, type Queues } from '@spool/core/queue';
import { createRedis, type Redis } from '@spool/core/redis';
import { createTenant } from '@spool/core/tenants';
import { createWebhookProducer } from '@spool/core/webhooks';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { freshDatabase, type TestDatabase } from './database.ts';
import { REDIS_URL } from './env.ts';
import { randomPrefix } from './stack.ts';

export const log = createLogger('silent');

export interface AttemptHarness {
  database: TestDatabase;
  redis: Redis;
  prefix: string;
  buffer: EventBuffer;
  /** A worker's event writer on `buffer` (100 ms batches). */
  events: EventWriter;
  registry: JobRegistry;
  queues: Queues;
  jobs: JobService;
  tenantId: string;
  /** Submits a job (by default `debug-steps` of one step); returns its id. */
  submit(request?: Partial<SubmitRequest>): Promise<string>;
  /** The job's events in PostgreSQL, in seq order. */
  storedEvents(id: string): Promise<{ seq: number; type: string; data: Record<string, unknown> }[]>;
  /** What a subscriber to the ended job is sent, from its first event (at most 3 s of it). */
  replay(id: string): Promise<JobEvent[]>;
  close(): Promise<void>;
}

export async function attemptHarness(): Promise<AttemptHarness> {
  const database = await freshDatabase();
  const redis = createRedis(REDIS_URL, 'worker');
  const prefix = randomPrefix();
  const buffer = new EventBuffer(redis, prefix);
  const events = new EventWriter(database.db, buffer, log);
  const registry = createRegistry({ enableDebugJobs: true });
  const queues = createQueues(redis, prefix, registry.list, log);
  const webhooks = createWebhookProducer(redis, prefix, log);
  const jobs = new JobService({ db: database.db, queues, registry, redis, buffer, webhooks, allowPrivateWebhooks: true, log });
  const tenantId = (await createTenant(database.db, 't')).id;
  return {
    database,
    redis,
    prefix,
    buffer,
    events,
    registry,
    queues,
    jobs,
    tenantId,
    async submit(request = {}) {
      return (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 }, ...request }]))[0]!.job.id;
    },
    storedEvents: (id) => database.db.query(sql`SELECT seq, type, data FROM job_events WHERE job_id = ${id} ORDER BY seq`),
    async replay(id) {
      const seen: JobEvent[] = [];
      const signal = AbortSignal.timeout(3_000);
      const stream = followJob({
        db: database.db,
        hub: undefined as never,
        buffer,
        jobId: id,
        after: 0,
        ended: true,
        maxBuffered: 1_000,
        signal,
      });
      for await (const e of stream) seen.push(e);
      return seen;
    },
    async close() {
      await events.close();
      await queues.close();
      await webhooks.close();
      redis.disconnect();
      await database.drop();
    },
  };
}

/** A `debug-steps` definition with this handler, taking and giving anything. */
export function testJob(handle: AnyJobDefinition['handle'], timeoutMs = 20_000): AnyJobDefinition {
  return defineJob({
    name: 'debug-steps',
    description: 'a test handler',
    input: z.any(),
    output: z.any(),
    retry: { attempts: 3, backoffMs: 10 },
    timeoutMs,
    concurrency: 1,
    handle,
  });
}

/** A promise a test opens by hand: `await gate.opened` waits until `gate.open()`. */
export function latch(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}
