/**
 * A closing write that fails once because the connection dropped (PostgreSQL restart, failover,
 * a pooler reset), with PostgreSQL back at once: the handler's outcome is not turned into a
 * failure of the attempt (a spent attempt, or on the last one a job failed for good) and leaves
 * no seq gap. The error goes out, and the worker steps aside (apps/worker/src/run-job.ts).
 */
import type { Database } from '@spool/core/db';
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
import { randomPrefix } from '../support/stack.ts';

const log = createLogger('silent');

describe('closing write during a connection blip', () => {
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

  for (const isLastAttempt of [false, true]) {
    it(`a completed handler is not turned into a ${isLastAttempt ? 'failed job' : 'spent attempt'} (isLastAttempt=${isLastAttempt})`, async () => {
      const id = (await jobs.submit(tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
      let failNext = false;
      const flaky: Database = Object.assign(Object.create(database.db), {
        query: (statement: Parameters<Database['query']>[0]) => {
          if (failNext) {
            failNext = false;
            return Promise.reject(
              Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' }),
            );
          }
          return database.db.query(statement);
        },
      });
      const def: AnyJobDefinition = defineJob({
        name: 'debug-steps',
        description: 'x',
        input: z.any(),
        output: z.any(),
        retry: { attempts: 3, backoffMs: 10 },
        timeoutMs: 20_000,
        concurrency: 1,
        handle: async () => {
          failNext = true; // the next statement of this attempt is its closing write
          return { done: true };
        },
      });
      const events = new EventWriter(database.db, buffer, log);
      let outcome: string;
      try {
        outcome = (
          await executeAttempt({ db: flaky, events, log, running: new Map() }, { jobId: id, def, isLastAttempt, attemptsMade: 0 })
        ).kind;
      } catch (err) {
        outcome = `threw ${(err as Error).message}`; // run-job would step aside: fine
      }
      await events.close();
      const job = await jobs.get(tenantId, id);
      const seqs = (
        await database.db.query<{ seq: number }>(sql`SELECT seq FROM job_events WHERE job_id = ${id} ORDER BY seq`)
      ).map((r) => r.seq);
      expect(
        seqs.filter((s, i) => s !== i + 1),
        'seq gap in PostgreSQL',
      ).toEqual([]);
      expect(job.status).not.toBe('failed');
      expect(outcome).not.toBe('retry');
    });
  }
});
