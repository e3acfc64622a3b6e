/**
 * A cancel of a running job is committed, then broadcast once on Redis to the worker running
 * it; otherwise the worker sees it only when the job's next step starts. A broadcast lost (a
 * publish that timed out under load, a worker reconnecting) left a long step running to its end.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('fault: a cancel broadcast lost', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ reconcileIntervalMs: 300 });
  });
  afterAll(() => stack?.close());

  it('the reconciler says the cancel again, and the job stops mid-step', async () => {
    const api = client(stack.url, (await stack.tenant()).apiKey);
    const { body } = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 120_000 } });
    await eventually('the first step running', async () => {
      const job = (await api.get(body.id)).body;
      return job.steps[0]?.status === 'running' || undefined;
    });
    // Committed as POST /cancel commits it, past the reconciler's grace, and never broadcast.
    await stack.database.db.query(sql`UPDATE jobs SET cancel_requested_at = now() - interval '10 seconds' WHERE id = ${body.id}`);
    const job = await api.waitFor(body.id, ['canceled', 'completed', 'failed'], 15_000);
    expect(job.status).toBe('canceled');
    expect(job.steps[0]).toMatchObject({ name: 'step-1', status: 'failed' });
  });
});
