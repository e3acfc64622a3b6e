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
