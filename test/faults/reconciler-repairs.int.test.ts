/**
 * The reconciler's repair of a job PostgreSQL says is running while BullMQ has already
 * finished it without a failure (the closing write was lost): nobody would ever run it again.
 * And what it must not repair: a job whose closing write lands while a pass is looking at it.
 */
import type { Database } from '@spool/core/db';
import { newId } from '@spool/core/ids';
import { Reconciler } from '@spool/core/queue';
import { Worker } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('reconciler: running in PostgreSQL, completed in BullMQ', () => {
  let stack: Stack;
  beforeAll(async () => {
    // No Spool worker yet: a bare BullMQ worker takes the job first.
    stack = await startStack({ worker: false, reconcileIntervalMs: 300 });
  });
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  /** A job BullMQ completed without Spool's handler (so without its closing write), while PostgreSQL says attempt 1 runs. */
  async function lostClosingWrite() {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const { body } = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 10 } });
    const bare = new Worker('debug-steps', async () => 'not spool', {
      connection: { url: REDIS_URL },
      prefix: stack.prefix,
    });
    await new Promise<void>((resolve) => bare.once('completed', () => resolve()));
    await bare.close();
    await stack.database.db.query(
      sql`UPDATE jobs SET status = 'running', attempts = 1, started_at = now() WHERE id = ${body.id}`,
    );
    return { api, id: body.id as string };
  }

  /** One reconciler pass during which the job's closing write lands, right after the pass read the row. */
  async function passRacingClosingWrite(id: string) {
    const { db } = stack.database;
    let reads = 0;
    const racing: Database = Object.assign(Object.create(db), {
      query: async (q: Parameters<Database['query']>[0]) => {
        const rows = await db.query(q);
        if (reads++ === 0) await db.query(sql`UPDATE jobs SET status = 'completed', finished_at = now() WHERE id = ${id}`);
        return rows;
      },
    });
    const { redis, queues, registry, buffer, log } = stack.api;
    const reconciler = new Reconciler({ db: racing, redis, queues, registry, buffer, log }, { intervalMs: 60_000, graceMs: 0 });
    const report = await reconciler.runOnce();
    const state = await (await queues.get('debug-steps').getJob(id))?.getState();
    const [row] = await db.query<{ status: string }>(sql`SELECT status FROM jobs WHERE id = ${id}`);
    return { report, state, status: row?.status };
  }

  it('re-adds a job stored with a priority past BullMQ’s limit, and the others of its pass; the API refuses one now', async () => {
    const tenant = await stack.tenant('priorities');
    const api = client(stack.url, tenant.apiKey);
    const tooLow = await api.submit({ type: 'debug-steps', input: { steps: 1 }, priority: 2_097_152 });
    expect(tooLow.status).toBe(422);
    // Rows an earlier version accepted, and one beside them, none of them in Redis.
    const ids = [2_097_152, 2_097_151, null].map(() => newId());
    for (const [i, priority] of [2_097_152, 2_097_151, null].entries()) {
      await stack.database.db.query(sql`
        INSERT INTO jobs (id, tenant_id, type, status, input, priority)
        VALUES (${ids[i]}, ${tenant.id}, 'debug-steps', 'queued', '{"steps":1}'::jsonb, ${priority})`);
    }
    const { redis, queues, registry, buffer, log } = stack.api;
    const reconciler = new Reconciler(
      { db: stack.database.db, redis, queues, registry, buffer, log },
      { intervalMs: 60_000, graceMs: 0 },
    );
    expect((await reconciler.runOnce())?.readded).toBeGreaterThanOrEqual(3);
    const added = await Promise.all(ids.map((id) => queues.get('debug-steps').getJob(id)));
    expect(added.map((j) => j?.opts.priority ?? null)).toEqual([2_097_151, 2_097_151, null]);
    for (const id of ids) await api.call('POST', `/v1/jobs/${id}/cancel`);
  });

  it('leaves alone a running job whose closing write lands during the pass, its BullMQ record included', async () => {
    const { id } = await lostClosingWrite();
    const { report, state, status } = await passRacingClosingWrite(id);
    expect(report).toMatchObject({ requeued: 0, readded: 0 });
    expect(state).toBe('completed');
    expect(status).toBe('completed');
  });

  it('leaves alone a queued job that is claimed and finished during the pass', async () => {
    const { id } = await lostClosingWrite();
    await stack.database.db.query(sql`UPDATE jobs SET status = 'queued', queued_at = now() - interval '1 hour' WHERE id = ${id}`);
    const { report, state, status } = await passRacingClosingWrite(id);
    expect(report).toMatchObject({ requeued: 0, readded: 0 });
    expect(state).toBe('completed');
    expect(status).toBe('completed');
  });

  it('queues the job again, and a Spool worker runs it to completed', async () => {
    const { api, id } = await lostClosingWrite();
    const body = { id };

    // The worker's reconciler (at start, then every 300 ms) finds it.
    await stack.startWorker();
    const job = await api.waitFor(body.id, ['completed', 'failed'], 20_000);
    expect(job).toMatchObject({ status: 'completed', attempts: 2, result: { steps: 2 } });
    const events = await stack.database.db.query<{ data: { status?: string; reason?: string } }>(
      sql`SELECT data FROM job_events WHERE job_id = ${body.id} AND type = 'status' ORDER BY seq`,
    );
    expect(events.map((e) => e.data.reason)).toContain('reconciled');
  });
});
