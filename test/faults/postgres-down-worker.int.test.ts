/**
 * Fault: PostgreSQL unreachable while a worker runs jobs, for longer than a job type's whole
 * retry schedule (debug-steps: 3 attempts, backoff under 1 s). An outage is not the job's
 * failure: it must not spend the job's attempts, and every job must complete once PostgreSQL is
 * back, resuming after its completed steps. The shared server cannot be stopped, so the stack
 * reaches it through a TCP proxy the test cuts (test/support/pg-proxy.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';
import { type PgProxy, startPgProxy, throughProxy } from '../support/pg-proxy.ts';
import { waitUntil } from '../support/ports.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const JOBS = 6;

describe('fault: PostgreSQL unreachable while jobs run', () => {
  let proxy: PgProxy;
  let stack: Stack;

  beforeAll(async () => {
    proxy = await startPgProxy();
    const database = await throughProxy(await freshDatabase(), proxy);
    stack = await startStack({ worker: true, database, reconcileIntervalMs: 500 });
  });
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await stack?.close();
    await stack?.database.drop();
    await proxy?.close();
  });

  it('spends no attempt: every job completes after a 6 s outage, no step run more than twice', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const res = await api.call('POST', '/v1/jobs/batch', {
      jobs: Array.from({ length: JOBS }, () => ({ type: 'debug-steps', input: { steps: 8, stepMs: 300 } })),
    });
    expect(res.status).toBe(202);
    const ids: string[] = res.body.data.map((j: any) => j.id);
    await waitUntil(
      'all jobs running',
      async () => {
        const rows = await stack.database.db.query<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM jobs WHERE id IN ${ids} AND status = 'running'`,
        );
        return rows[0]!.n === JOBS ? true : undefined;
      },
      30_000,
    );

    await proxy.cut('refuse');
    await sleep(6_000);
    await proxy.restore();

    const jobs = await Promise.all(ids.map((id) => api.waitFor(id, ['completed', 'failed', 'canceled'], 60_000)));
    for (const job of jobs) {
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      expect(job.result).toEqual({ steps: 8 });
      for (const st of job.steps) expect(st.runs, `${job.id} ${st.name}`).toBeLessThanOrEqual(2);
    }
  }, 120_000);
});
