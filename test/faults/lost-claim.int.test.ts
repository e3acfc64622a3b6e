/**
 * A claim commits without waiting for the WAL flush (db/relaxed-commit.ts), so a crash of
 * PostgreSQL may drop it after the worker has started the attempt. That must cost a rerun,
 * never the job: the attempt's fenced closing write matches no row, and the reconciler queues
 * the job again. The crash is emulated by undoing the claim right after it commits.
 */
import type { Database } from '@spool/core/db';
import { startWorker } from '@spool/worker';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('fault: a claim lost in a PostgreSQL crash', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('runs the job again: the attempt whose claim was lost is dropped, the reconciler queues the job, it completes', async () => {
    const { db } = stack.database;
    const dialect = new PgDialect();
    let undone = 0;
    let claimText = '';
    // The first claim commits, then is rolled back as a crash would: row, attempt and event.
    const crashing: Database = Object.assign(Object.create(db), {
      query: async (q: Parameters<Database['query']>[0]) => {
        const rows = await db.query<{ id?: string; last_seq?: number }>(q);
        const text = dialect.sqlToQuery(q).sql;
        if (undone === 0 && text.includes('WITH claimed AS') && rows[0]?.id) {
          undone++;
          claimText = text;
          const { id, last_seq } = rows[0];
          await db.query(sql`DELETE FROM job_events WHERE job_id = ${id} AND seq = ${last_seq}`);
          await db.query(
            sql`UPDATE jobs SET status = 'queued', attempts = attempts - 1, started_at = NULL, last_seq = last_seq - 1 WHERE id = ${id}`,
          );
        }
        return rows;
      },
    });
    const worker = await startWorker(
      { db: crashing, registry: stack.api.registry, log: stack.api.log },
      { redisUrl: REDIS_URL, prefix: stack.prefix, lockMs: 5_000, concurrency: {}, reconcileIntervalMs: 300 },
    );
    try {
      const api = client(stack.url, (await stack.tenant()).apiKey);
      const { body } = await api.submit({ type: 'debug-steps', input: { steps: 2 } });
      const job = await api.waitFor(body.id, ['completed', 'failed'], 20_000);
      expect(undone).toBe(1);
      expect(claimText).toContain("set_config('synchronous_commit', 'off', true)");
      // The lost claim left no trace: the attempt that completed is attempt 1 again.
      expect(job).toMatchObject({ status: 'completed', attempts: 1, result: { steps: 2 } });
      const { steps } = (
        await db.query<{ steps: number }>(
          sql`SELECT count(*)::int AS steps FROM job_steps WHERE job_id = ${body.id} AND status = 'completed'`,
        )
      )[0]!;
      expect(steps).toBe(2);
    } finally {
      await worker.close();
    }
  });
});
