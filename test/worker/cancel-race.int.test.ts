/**
 * A cancel is two statements (queued → canceled, or mark a running job), and a job can move
 * between them: claimed after the first, queued again by its attempt's closing write (a retry)
 * before the second. Neither matched then, and the cancel must not answer "already queued".
 */
import type { Database } from '@spool/core/db';
import { JobService } from '@spool/core/jobs';
import { createWebhookProducer } from '@spool/core/webhooks';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, log } from '../support/attempts.ts';

let h: AttemptHarness;
beforeAll(async () => {
  h = await attemptHarness();
});
afterAll(() => h?.close());

it('a job that moves between the two statements of a cancel is canceled', async () => {
  const id = await h.submit();
  const db = h.database.db;
  const setStatus = (status: string) => db.query(sql`UPDATE jobs SET status = ${status} WHERE id = ${id}`);
  let statements = 0;
  const moving: Database = Object.assign(Object.create(db), {
    query: async (statement: Parameters<Database['query']>[0]) => {
      statements++;
      if (statements === 1) await setStatus('running'); // claimed before "cancel if queued"
      if (statements === 2) await setStatus('queued'); // a retry's closing write before "mark if running"
      return db.query(statement);
    },
  });
  const webhooks = createWebhookProducer(h.redis, h.prefix, log);
  const jobs = new JobService({
    db: moving,
    queues: h.queues,
    registry: h.registry,
    redis: h.redis,
    buffer: h.buffer,
    webhooks,
    allowPrivateWebhooks: true,
    log,
  });
  try {
    const job = await jobs.cancel(h.tenantId, id);
    expect(job.status).toBe('canceled');
    expect((await h.jobs.get(h.tenantId, id)).status).toBe('canceled');
    expect((await h.storedEvents(id)).at(-1)?.type).toBe('canceled');
  } finally {
    await webhooks.close();
  }
});
