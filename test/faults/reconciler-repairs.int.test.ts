/**
 * The reconciler's repair of a job PostgreSQL says is running while BullMQ has already
 * finished it without a failure (the closing write was lost): nobody would ever run it again.
 */
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

  it('queues the job again, and a Spool worker runs it to completed', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const { body } = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 10 } });
    // BullMQ completes the job without Spool's handler (so without its closing write) …
    const bare = new Worker('debug-steps', async () => 'not spool', {
      connection: { url: REDIS_URL },
      prefix: stack.prefix,
    });
    await new Promise<void>((resolve) => bare.once('completed', () => resolve()));
    await bare.close();
    // … while PostgreSQL says an attempt is running: the state a lost closing write leaves.
    await stack.database.db.query(
      sql`UPDATE jobs SET status = 'running', attempts = 1, started_at = now() WHERE id = ${body.id}`,
    );

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
