/**
 * Step checkpoints on the real PostgreSQL: a step's end rides on the next step's start, is
 * flushed before the closing write or at the end of the event-loop turn, and every write is
 * fenced on the attempt.
 */

import { newId } from '@spool/core/ids';
import { createLogger } from '@spool/core/logger';
import { claimJob } from '@spool/core/store/lease';
import { createTenant } from '@spool/core/tenants';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepCheckpoints } from '../../packages/core/src/steps/checkpoints.ts';
import { insertJobs } from '../../packages/core/src/store/jobs.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe('step checkpoints', () => {
  let database: TestDatabase;
  let tenantId: string;
  beforeAll(async () => {
    database = await freshDatabase();
    tenantId = (await createTenant(database.db, 'steps')).id;
  });
  afterAll(async () => database?.drop());

  const runningJob = async () => {
    const id = newId();
    await insertJobs(database.db, [
      {
        id,
        tenant_id: tenantId,
        type: 'debug-steps',
        input: {},
        priority: null,
        metadata: null,
        webhook_url: null,
        idempotency_key: null,
        request_hash: null,
        run_at: null,
      },
    ]);
    const claim = await claimJob(database.db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
    return { id, attempt: claim!.attempts };
  };
  const steps = (jobId: string) =>
    database.db.query<{ name: string; status: string; runs: number; output: unknown }>(
      sql`SELECT name, status, runs, output FROM job_steps WHERE job_id = ${jobId} ORDER BY position`,
    );
  const counting = () => {
    let statements = 0;
    const query = database.db.query.bind(database.db);
    return {
      db: {
        ...database.db,
        query: ((q: Parameters<typeof query>[0]) => {
          statements++;
          return query(q);
        }) as typeof query,
      },
      count: () => statements,
    };
  };

  it("writes a step's output with the next step's start: one statement per step", async () => {
    const job = await runningJob();
    const c = counting();
    const cp = new StepCheckpoints(c.db as typeof database.db, job.id, job.attempt, createLogger('silent'));
    expect((await cp.start('a')).runs).toBe(1);
    cp.ended('a', { n: 1 });
    const b = await cp.start('b'); // same turn: a's end is carried here
    expect(b).toMatchObject({ leased: true, cancel_requested: false, runs: 1 });
    expect(c.count()).toBe(2);
    expect(await steps(job.id)).toMatchObject([
      { name: 'a', status: 'completed', output: { n: 1 } },
      { name: 'b', status: 'running', runs: 1 },
    ]);
    cp.ended('b', 'two');
    await cp.flush();
    expect(c.count()).toBe(3);
    expect((await steps(job.id))[1]).toMatchObject({ status: 'completed', output: 'two' });
  });

  it('a step that no other write follows is written at the end of the event-loop turn', async () => {
    const job = await runningJob();
    const cp = new StepCheckpoints(database.db, job.id, job.attempt, createLogger('silent'));
    await cp.start('only');
    cp.ended('only', [1, 2]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await steps(job.id)).toMatchObject([{ name: 'only', status: 'completed', output: [1, 2] }]);
  });

  it('flush waits for every write in flight, not only the last one begun', async () => {
    // Parallel steps (summarize's map calls): one step's end is on its way to PostgreSQL when
    // another step fails and its failure is written at once. The closing write comes after
    // flush(): were the first write still in flight, it would find the job closed and the
    // completed step's output would be lost (the retry paid for the call again).
    const job = await runningJob();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const query = database.db.query.bind(database.db);
    let writes = 0;
    const db = {
      ...database.db,
      query: (async (q: Parameters<typeof query>[0]) => {
        // The third statement is the first step's end (after the two starts): held back.
        if (++writes === 3) await held;
        return query(q);
      }) as typeof query,
    };
    const cp = new StepCheckpoints(db as typeof database.db, job.id, job.attempt, createLogger('silent'));
    await cp.start('a');
    await cp.start('b');
    cp.ended('a', 'kept');
    await new Promise((r) => setImmediate(r)); // a's end is now being written (held)
    await cp.failed('b', { code: 'boom', message: 'no', retryable: false });
    let flushed = false;
    const flushing = cp.flush().then(() => {
      flushed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(flushed).toBe(false);
    release();
    await flushing;
    expect(await steps(job.id)).toMatchObject([
      { name: 'a', status: 'completed', output: 'kept' },
      { name: 'b', status: 'failed' },
    ]);
  });

  it('a failed step is written at once; a stale attempt writes nothing', async () => {
    const job = await runningJob();
    const cp = new StepCheckpoints(database.db, job.id, job.attempt, createLogger('silent'));
    await cp.start('x');
    await cp.failed('x', { code: 'boom', message: 'no', retryable: true });
    expect(await steps(job.id)).toMatchObject([{ name: 'x', status: 'failed' }]);

    // Another worker takes the job over (attempt + 1): the old one's writes match no row.
    await database.db.query(sql`UPDATE jobs SET attempts = attempts + 1 WHERE id = ${job.id}`);
    cp.ended('x', 'late');
    const stale = await cp.start('y');
    expect(stale.leased).toBe(false);
    expect(await steps(job.id)).toMatchObject([{ name: 'x', status: 'failed' }]);
  });
});
