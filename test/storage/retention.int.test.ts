/**
 * Retention (SPOOL_JOB_RETENTION_DAYS): finished jobs past it are deleted with their events and
 * steps; their model calls stay (budgets and usage read them); live jobs, and finished ones
 * whose webhook is still being delivered, stay.
 */
import { newId } from '@spool/core/ids';
import { insertModelCall, tenantSpend } from '@spool/core/model-calls';
import { deleteFinishedJobs } from '@spool/core/store/retention';
import { sql } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { eventually } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

let stack: Stack | undefined;
afterAll(() => stack?.close());

it('deletes finished jobs past the retention and keeps what budgets, usage and webhooks need', async () => {
  stack = await startStack({ retentionDays: 30, reconcileIntervalMs: 200 });
  const t = await stack.tenant('retention');
  const api = client(stack.url, t.apiKey);
  const db = stack.database.db;
  const ids: Record<string, string> = {};
  for (const name of ['oldDone', 'oldFailed', 'oldCanceled', 'oldWithWebhook', 'recentDone', 'live']) {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: `key-${name}` });
    ids[name] = res.body.id;
    await api.waitFor(res.body.id);
  }
  // Finished 40 days ago (or 10), as the sweep reads finished_at; `live` is queued again.
  const age = async (id: string, status: string, days: number) =>
    db.query(sql`UPDATE jobs SET status = ${status}, finished_at = now() - make_interval(days => ${days}::int) WHERE id = ${id}`);
  await age(ids.oldDone!, 'completed', 40);
  await age(ids.oldFailed!, 'failed', 40);
  await age(ids.oldCanceled!, 'canceled', 40);
  await age(ids.oldWithWebhook!, 'completed', 40);
  await age(ids.recentDone!, 'completed', 10);
  await db.query(sql`UPDATE jobs SET status = 'running', finished_at = NULL WHERE id = ${ids.live}`);
  await db.query(sql`
    INSERT INTO webhook_deliveries (id, job_id, tenant_id, url, event_type, snapshot, status, next_attempt_at)
    VALUES (${newId()}, ${ids.oldWithWebhook}, ${t.id}, 'http://127.0.0.1:9/h', 'job.completed', '{}'::jsonb, 'pending',
      now() + interval '1 day')`);
  await insertModelCall(db, {
    ...{ id: newId(), jobId: ids.oldDone!, tenantId: t.id, jobType: 'chat', step: null, attempt: 1, callTry: 1 },
    ...{ kind: 'chat', provider: 'openai', model: 'gpt-4o-mini', promptVersion: null, status: 'ok', inputTokens: 5 },
    ...{ outputTokens: 2, costUsd: 0.25, latencyMs: 1, cacheLayer: null, fallbackFrom: null, errorClass: null },
    ...{ errorMessage: null, redacted: false, injectionSuspected: false, retrieval: null },
  });
  const spentBefore = await tenantSpend(db, t.id);

  // The worker's reconciler runs the sweep at its first pass, then once a minute: a worker
  // started now sweeps at once.
  await stack.worker!.close();
  await stack.startWorker();
  await eventually('the sweep to delete the old job', async () => (await api.get(ids.oldDone!)).status === 404, 10_000);
  for (const name of ['oldFailed', 'oldCanceled']) expect((await api.get(ids[name]!)).status, name).toBe(404);
  for (const name of ['oldWithWebhook', 'recentDone', 'live']) expect((await api.get(ids[name]!)).status, name).toBe(200);
  const [events] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM job_events WHERE job_id = ${ids.oldDone}`);
  expect(events!.n).toBe(0);
  const [call] = await db.query<{ job_id: string | null }>(sql`SELECT job_id FROM model_calls WHERE tenant_id = ${t.id}`);
  expect(call).toEqual({ job_id: null });
  expect(await tenantSpend(db, t.id)).toEqual(spentBefore);
  const usage = await api.call('GET', '/v1/usage');
  expect(usage.body.totals).toMatchObject({ calls: 1, costUsd: 0.25 });

  // Nothing is past the retention now: a sweep deletes nothing more.
  expect(await deleteFinishedJobs(db, 30, 1_000)).toBe(0);
  // A deleted job's idempotency key makes a new job; a kept one's still answers the old job.
  const again = await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'key-oldDone' });
  expect(again.status).toBe(202);
  expect(again.body.id).not.toBe(ids.oldDone);
  const kept = await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'key-recentDone' });
  expect(kept.body.id).toBe(ids.recentDone);
}, 60_000);
