import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

describe('webhooks', () => {
  let stack: Stack;
  let tenant: { id: string; apiKey: string; webhookSecret: string };
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack({ webhooks: { retryDelaysMs: [0, 100, 200, 300], timeoutMs: 500 } });
    tenant = await stack.tenant();
    api = client(stack.url, tenant.apiKey);
  });
  afterAll(() => stack?.close());

  const deliveries = async (jobId: string) => (await api.call('GET', `/v1/jobs/${jobId}/webhooks`)).body.data;
  const settle = async (jobId: string, status: string) => {
    for (let i = 0; i < 200; i++) {
      const [d] = await deliveries(jobId);
      if (d?.status === status) return d;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`delivery of ${jobId} never became ${status}: ${JSON.stringify(await deliveries(jobId))}`);
  };

  it('500, 500, then 200: three signed attempts with one webhook-id, verified by standardwebhooks', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret, [500, 500, 200]);
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      const got = await rx.waitFor(3);
      expect(got.every((r) => r.verified)).toBe(true);
      expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
      // Signed per attempt: the signature changes exactly when the (per-second) timestamp does.
      const stamps = new Set(got.map((r) => r.headers['webhook-timestamp']));
      expect(new Set(got.map((r) => r.headers['webhook-signature'])).size).toBe(stamps.size);
      const body = JSON.parse(got[2]!.body);
      expect(body).toMatchObject({ type: 'job.completed', data: { id: job.id, status: 'completed', result: { steps: 1 } } });
      expect(got[0]!.body).toBe(got[2]!.body);

      const d = await settle(job.id, 'succeeded');
      expect(d.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 200]);
      expect(d.attempts[0].nextRetryAt).toBeTruthy();
      expect(d.attempts.every((a: any) => typeof a.latencyMs === 'number')).toBe(true);
      // Times as everywhere in the API: ISO 8601 in UTC.
      const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
      for (const t of [d.createdAt, d.finishedAt, ...d.attempts.flatMap((a: any) => [a.at, a.nextRetryAt ?? d.createdAt])])
        expect(t).toMatch(ISO);

      // The package rejects a tampered body and a stale timestamp.
      const wh = new Webhook(tenant.webhookSecret);
      expect(() => wh.verify(got[2]!.body.replace('completed', 'failed'), got[2]!.headers)).toThrow();
      const stale = { ...got[2]!.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) };
      expect(() => wh.verify(got[2]!.body, stale)).toThrow();
    } finally {
      await rx.close();
    }
  });

  it('a failed job sends job.failed once', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret);
    try {
      const job = (
        await api.submit({ type: 'debug-steps', input: { steps: 1, failAt: 1, failTimes: 99 }, webhook: { url: rx.url } })
      ).body;
      await settle(job.id, 'succeeded');
      expect(rx.received).toHaveLength(1);
      expect(JSON.parse(rx.received[0]!.body)).toMatchObject({ type: 'job.failed', data: { status: 'failed', attempts: 3 } });
    } finally {
      await rx.close();
    }
  });

  it('410 stops retrying at once', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret, [410]);
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } })).body;
      const d = await settle(job.id, 'failed');
      expect(d.attempts).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 600));
      expect(rx.received).toHaveLength(1);
    } finally {
      await rx.close();
    }
  });

  it('a redirect is a failure and is never followed', async () => {
    const target = await startReceiver(() => tenant.webhookSecret);
    const rx = await startReceiver(
      () => tenant.webhookSecret,
      [
        { status: 302, headers: { location: target.url } },
        { status: 302, headers: { location: target.url } },
        { status: 302, headers: { location: target.url } },
        { status: 302, headers: { location: target.url } },
      ],
    );
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } })).body;
      const d = await settle(job.id, 'failed');
      expect(d.attempts).toHaveLength(4);
      expect(d.attempts[0].error).toMatch(/redirect/);
      expect(target.received).toHaveLength(0);
    } finally {
      await rx.close();
      await target.close();
    }
  });

  it('a receiver that hangs past the timeout is retried', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret, ['hang', 200]);
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } })).body;
      const d = await settle(job.id, 'succeeded');
      expect(d.attempts[0].statusCode).toBeNull();
      expect(d.attempts[0].error).toMatch(/timed out/);
      expect(d.attempts[1].statusCode).toBe(200);
    } finally {
      await rx.close();
    }
  });

  it('429 with Retry-After waits at least that long', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret, [{ status: 429, headers: { 'retry-after': '1' } }, 200]);
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } })).body;
      const got = await rx.waitFor(2);
      expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(950);
      await settle(job.id, 'succeeded');
    } finally {
      await rx.close();
    }
  });

  it('a tenant default URL is used when a job names none; redeliver sends it again with the same id', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret);
    try {
      expect((await api.call('PUT', '/v1/webhook', { url: rx.url })).status).toBe(200);
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 } })).body;
      await settle(job.id, 'succeeded');
      const re = await api.call('POST', `/v1/jobs/${job.id}/webhooks/redeliver`);
      expect(re.status).toBe(202);
      const got = await rx.waitFor(2);
      expect(got[1]!.headers['webhook-id']).toBe(got[0]!.headers['webhook-id']);
    } finally {
      await api.call('PUT', '/v1/webhook', { url: null });
      await rx.close();
    }
  });

  it('secret rotation: both signatures during the overlap, each verifies', async () => {
    const old = tenant.webhookSecret;
    const rot = await fetch(`${stack.url}/v1/admin/tenants/${tenant.id}/webhook-secret/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(rot.status).toBe(200);
    const fresh = (await rot.json()).webhookSecret as string;
    const rx = await startReceiver(() => fresh);
    try {
      await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } });
      const [r] = await rx.waitFor(1);
      expect(r!.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(r!.verified).toBe(true);
      expect(() => new Webhook(old).verify(r!.body, r!.headers)).not.toThrow();
    } finally {
      tenant.webhookSecret = fresh;
      await rx.close();
    }
  });

  it('two rotations at once: the later secret is current and the earlier one previous, so both sign', async () => {
    const rotate = async () => {
      const res = await fetch(`${stack.url}/v1/admin/tenants/${tenant.id}/webhook-secret/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()).webhookSecret as string;
    };
    for (let round = 0; round < 5; round++) {
      const answered = await Promise.all([rotate(), rotate()]);
      const [row] = await stack.database.db.query<{ webhook_secret: string; previous_webhook_secret: string }>(
        sql`SELECT webhook_secret, previous_webhook_secret FROM tenants WHERE id = ${tenant.id}`,
      );
      expect([row!.webhook_secret, row!.previous_webhook_secret].sort()).toEqual(answered.sort());
      tenant.webhookSecret = row!.webhook_secret;
    }
  });

  it('outbox: a delivery whose queue entry was lost is still delivered by the reconciler', async () => {
    const rx = await startReceiver(() => tenant.webhookSecret);
    const lone = await startStack({ worker: false });
    try {
      const t = await lone.tenant();
      const c = client(lone.url, t.apiKey);
      // Canceling a queued job commits the terminal state and the outbox row together.
      const job = (await c.submit({ type: 'debug-steps', input: { steps: 0 }, delayMs: 60_000, webhook: { url: rx.url } })).body;
      expect((await c.call('POST', `/v1/jobs/${job.id}/cancel`)).status).toBe(200);
      // Simulate a process that died after the commit, before (or while) it enqueued the delivery.
      const [d] = (await c.call('GET', `/v1/jobs/${job.id}/webhooks`)).body.data;
      await lone.api.webhooks.queue.remove(d.id);
      await lone.startWorker();
      const [r] = await rx.waitFor(1, 30_000);
      expect(r!.headers['webhook-id']).toBe(d.id);
      expect(JSON.parse(r!.body).type).toBe('job.canceled');
    } finally {
      await lone.close();
      await rx.close();
    }
  });

  it('the SSRF guard refuses a loopback webhook at submit with 422 when private targets are not allowed', async () => {
    const guarded = await startStack({ worker: false, webhooks: { allowPrivate: false } });
    try {
      const t = await guarded.tenant();
      const res = await client(guarded.url, t.apiKey).submit({
        type: 'debug-steps',
        input: { steps: 0 },
        webhook: { url: 'http://localhost:9/hook' },
      });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('webhook_url_forbidden');
    } finally {
      await guarded.close();
    }
  });
});

describe('webhook schedule', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ webhooks: { retryDelaysMs: [1_500, 300], timeoutMs: 500 } });
  });
  afterAll(() => stack?.close());

  it('the first delay of SPOOL_WEBHOOK_RETRY_DELAYS is the wait before the first attempt', async () => {
    const tenant = await stack.tenant();
    const api = client(stack.url, tenant.apiKey);
    const rx = await startReceiver(() => tenant.webhookSecret, [500, 200]);
    try {
      const job = (await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rx.url } })).body;
      const done = await api.waitFor(job.id);
      const [first, second] = await rx.waitFor(2, 15_000);
      expect(first!.at - new Date(done.finishedAt).getTime()).toBeGreaterThanOrEqual(1_400);
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(200); // 300 ms ± 20 %
      expect(second!.at - first!.at).toBeLessThan(1_400); // the retry uses the second delay, not the first
    } finally {
      await rx.close();
    }
  });
});
