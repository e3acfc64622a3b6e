/**
 * kill -9 of the worker process after the job's terminal commit, while its webhook is in
 * flight: the next worker delivers it, with the same webhook-id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

describe('webhook outbox survives kill -9', () => {
  let stack: Stack;
  let worker: Child | undefined;
  beforeAll(async () => {
    stack = await startStack({ worker: false, lockMs: 2_000 });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await stack?.close();
  });

  it('delivers the webhook of a job whose worker died mid-delivery', async () => {
    const tenant = await stack.tenant();
    const api = client(stack.url, tenant.apiKey);
    const rx = await startReceiver(() => tenant.webhookSecret, ['hang', 200]);
    try {
      worker = await startWorkerProcess({
        databaseUrl: stack.database.url,
        redisUrl: REDIS_URL,
        prefix: stack.prefix,
        env: { SPOOL_WEBHOOK_ALLOW_PRIVATE: 'true', SPOOL_WEBHOOK_TIMEOUT_MS: '60000' },
      });
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      const [first] = await rx.waitFor(1);
      expect((await api.get(job.id)).body.status).toBe('completed'); // the terminal commit happened
      await worker.stop('SIGKILL');
      worker = undefined;

      await stack.startWorker(); // takes the stalled delivery over after the lock lapses
      const got = await rx.waitFor(2, 45_000);
      expect(got[1]!.verified).toBe(true);
      expect(got[1]!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
      expect(JSON.parse(got[1]!.body)).toMatchObject({ type: 'job.completed', data: { id: job.id } });
    } finally {
      await rx.close();
    }
  });
});

describe('webhook tenant cap survives kill -9', () => {
  let stack: Stack;
  let worker: Child | undefined;
  beforeAll(async () => {
    // One delivery in flight per tenant: the killed worker's slot is the tenant's only one.
    stack = await startStack({ worker: false, lockMs: 2_000, webhooks: { tenantConcurrency: 1, timeoutMs: 60_000 } });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await stack?.close();
  });

  it('the slot a killed worker held does not stop the tenant’s deliveries', async () => {
    const tenant = await stack.tenant();
    const api = client(stack.url, tenant.apiKey);
    const rx = await startReceiver(() => tenant.webhookSecret, ['hang', 200, 200]);
    try {
      worker = await startWorkerProcess({
        databaseUrl: stack.database.url,
        redisUrl: REDIS_URL,
        prefix: stack.prefix,
        env: { SPOOL_WEBHOOK_ALLOW_PRIVATE: 'true', SPOOL_WEBHOOK_TIMEOUT_MS: '60000', SPOOL_WEBHOOK_TENANT_CONCURRENCY: '1' },
      });
      const first = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      await rx.waitFor(1); // in flight, hanging, when the worker dies
      await worker.stop('SIGKILL');
      worker = undefined;

      await stack.startWorker();
      const second = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      // Both delivered well before the dead worker's slot would lapse (2 × 60 s timeout).
      const got = await rx.waitFor(3, 45_000);
      const delivered = got.slice(1).map((r) => JSON.parse(r.body).data.id);
      expect(delivered.sort()).toEqual([first.id, second.id].sort());
    } finally {
      await rx.close();
    }
  });
});
