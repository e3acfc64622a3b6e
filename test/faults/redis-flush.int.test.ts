/**
 * Fault: Redis loses all its data (FLUSHALL) while jobs are queued, and while jobs are
 * running. PostgreSQL is the truth: the reconciler must put every accepted job back into
 * BullMQ and every job must complete, with no completed step run twice.
 * Runs against a private redis-server, never the shared one.
 */
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/ports.ts';
import { type RedisServer, startRedisServer } from '../support/redis-server.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const JOBS = 20;

describe('fault: Redis FLUSHALL', () => {
  let redis: RedisServer;
  let stack: Stack | undefined;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const statuses = async (s: Stack, ids: string[]) =>
    s.database.db.query<{ id: string; status: string }>(sql`SELECT id, status FROM jobs WHERE id IN ${ids}`);

  it('every queued job completes after Redis lost them', async () => {
    stack = await startStack({ worker: false, redisUrl: redis.url, reconcileIntervalMs: 300 });
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const res = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 20 } });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    // They are in BullMQ before the flush, and gone after it.
    expect(Number(await redis.command('DBSIZE').then((r) => r.slice(1)))).toBeGreaterThan(0);
    expect(await redis.command('FLUSHALL')).toBe('+OK\r\n');
    expect(await redis.command('DBSIZE')).toBe(':0\r\n');

    await stack.startWorker();
    // The reconciler leaves queued jobs alone for its 5 s grace period, then re-adds them.
    const jobs = await Promise.all(ids.map((id) => api.waitFor(id, ['completed', 'failed', 'canceled'], 45_000)));
    for (const job of jobs) {
      expect(job).toMatchObject({ status: 'completed', result: { steps: 2 }, attempts: 1 });
      expect(job.steps.map((s: any) => s.runs)).toEqual([1, 1]);
    }
  });

  it('every running job completes after Redis lost its data mid-run, and no completed step runs again', async () => {
    stack = await startStack({ worker: true, redisUrl: redis.url, reconcileIntervalMs: 300 });
    const s = stack;
    const api = client(s.url, (await s.tenant()).apiKey);
    // One batch, so all jobs start together and are all mid-run at once even on a busy machine.
    const res = await api.call('POST', '/v1/jobs/batch', {
      jobs: Array.from({ length: JOBS }, () => ({ type: 'debug-steps', input: { steps: 4, stepMs: 1_000 } })),
    });
    expect(res.status).toBe(202);
    const ids: string[] = res.body.data.map((j: any) => j.id);
    // Flush once every job is running and has at least one step behind it.
    await waitUntil(
      'all jobs running past step 1',
      async () => {
        const rows = await s.database.db.query<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM jobs j WHERE j.id IN ${ids} AND j.status = 'running'
            AND EXISTS (SELECT 1 FROM job_steps st WHERE st.job_id = j.id AND st.status = 'completed')`);
        return rows[0]!.n === JOBS ? true : undefined;
      },
      30_000,
    );
    expect(await redis.command('FLUSHALL')).toBe('+OK\r\n');
    const doneAtFlush = await s.database.db.query<{ job_id: string; name: string }>(
      sql`SELECT job_id, name FROM job_steps WHERE job_id IN ${ids} AND status = 'completed'`,
    );
    expect(doneAtFlush.length).toBeGreaterThanOrEqual(JOBS);

    const jobs = await Promise.all(ids.map((id) => api.waitFor(id, ['completed', 'failed', 'canceled'], 45_000)));
    for (const job of jobs) {
      expect(job).toMatchObject({ status: 'completed', result: { steps: 4 } });
      expect(job.steps.map((st: any) => st.name)).toEqual(['step-1', 'step-2', 'step-3', 'step-4']);
      for (const st of job.steps) {
        expect(st.status).toBe('completed');
        // A step in flight at the flush may run once more (at least once); none more than that.
        expect(st.runs).toBeLessThanOrEqual(2);
      }
    }
    const runs = new Map(jobs.flatMap((j) => j.steps.map((st: any) => [`${j.id}/${st.name}`, st.runs] as const)));
    for (const d of doneAtFlush) expect(runs.get(`${d.job_id}/${d.name}`), `${d.job_id}/${d.name}`).toBe(1);
    // And in PostgreSQL itself: nothing left queued or running.
    expect((await statuses(s, ids)).filter((r) => r.status !== 'completed')).toEqual([]);
  });

  it('a long job survives the loss: its worker, handed it again, stops the stale run and resumes once', async () => {
    // One worker process: the re-added job comes back to the very process whose stale run of it
    // still goes on. A 1 s lock makes every lock it fails to keep show as a stall within seconds.
    stack = await startStack({ worker: true, redisUrl: redis.url, reconcileIntervalMs: 300, lockMs: 1_000 });
    const s = stack;
    const api = client(s.url, (await s.tenant()).apiKey);
    const res = await api.submit({ type: 'debug-steps', input: { steps: 16, stepMs: 500 } });
    const id = res.body.id as string;
    await waitUntil(
      'two steps done',
      async () => ((await api.get(id)).body.steps.filter((st: any) => st.status === 'completed').length >= 2 ? true : undefined),
      30_000,
    );
    expect(await redis.command('FLUSHALL')).toBe('+OK\r\n');

    const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
    // One takeover (attempt 2), not one per lost lock until BullMQ fails the job as stalled.
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    expect(Math.max(...job.steps.map((st: any) => st.runs))).toBeLessThanOrEqual(2);
  }, 90_000);
});
