/**
 * Logs never contain a webhook secret. The API and a worker run as real processes (the
 * entry points, at LOG_LEVEL=trace) so every line pino writes is captured from their stdout;
 * jobs' webhooks go through failing attempts and a success, before and after a secret rotation,
 * and neither the current nor the old `whsec_` secret, nor its key in any encoding, appears.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, spawnChild } from '../support/children.ts';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL, ROOT } from '../support/env.ts';
import { freePort, waitHealthy, waitUntil } from '../support/ports.ts';
import { client, randomPrefix } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

/** Everything a child writes from now on; `Child.output()` keeps only the last 16 KB. */
function capture(child: Child, before = ''): { text: () => string } {
  let all = before;
  const keep = (chunk: Buffer) => {
    all += chunk.toString();
  };
  child.proc.stdout?.on('data', keep);
  child.proc.stderr?.on('data', keep);
  return { text: () => all };
}

/** The forms a leaked secret could take in a log line. */
function secretForms(secret: string): string[] {
  const key = secret.slice('whsec_'.length);
  const bytes = Buffer.from(key, 'base64');
  return [secret, key, bytes.toString('base64url'), bytes.toString('hex')];
}

describe('webhook secrets never reach the logs', () => {
  let database: TestDatabase;
  let apiProc: Child | undefined;
  let workerProc: Child | undefined;
  let apiLogs: { text: () => string };
  let workerLogs: { text: () => string };
  let base: string;
  const adminToken = `admin-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    database = await freshDatabase();
    const prefix = randomPrefix();
    const port = await freePort();
    const env = { LOG_LEVEL: 'trace', SPOOL_WEBHOOK_ALLOW_PRIVATE: 'true', SPOOL_ENABLE_DEBUG_JOBS: 'true' };
    apiProc = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/api/src/main.ts')], {
      cwd: join(ROOT, 'apps/api'),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATABASE_URL: database.url,
        REDIS_URL,
        SPOOL_QUEUE_PREFIX: prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        SPOOL_ADMIN_TOKEN: adminToken,
        ...env,
      },
    });
    apiLogs = capture(apiProc);
    base = `http://127.0.0.1:${port}`;
    workerProc = await startWorkerProcess({
      databaseUrl: database.url,
      redisUrl: REDIS_URL,
      prefix,
      env: { ...env, SPOOL_WEBHOOK_RETRY_DELAYS: '0,200,400,800', SPOOL_WEBHOOK_TIMEOUT_MS: '2000' },
    });
    // The start-up lines are in output() already; capture the rest from here (same tick).
    workerLogs = capture(workerProc, workerProc.output());
    await waitHealthy(base, 45_000, apiProc);
  }, 120_000);

  afterAll(async () => {
    await workerProc?.stop('SIGTERM');
    await apiProc?.stop('SIGTERM');
    await database?.drop();
  });

  it('through failed attempts, a success and a rotation, no form of the current or old secret is logged', async () => {
    const created = await fetch(`${base}/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'leaky' }),
    });
    expect(created.status).toBe(201);
    const tenant = (await created.json()) as { id: string; apiKey: string; webhookSecret: string };
    const oldSecret = tenant.webhookSecret;
    let current = oldSecret;
    const api = client(base, tenant.apiKey);
    const rx = await startReceiver(() => current, [500, 503, 200, 500, 200]);
    const delivered = async (jobId: string) =>
      waitUntil(
        `the webhook of ${jobId} to succeed`,
        async () => {
          const [d] = (await api.call('GET', `/v1/jobs/${jobId}/webhooks`)).body.data;
          return d?.status === 'succeeded' ? d : undefined;
        },
        30_000,
      );

    try {
      // Before the rotation: 500, 503, then 200, signed with the first secret.
      const before = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      const d1 = await delivered(before.id);
      expect(d1.attempts.map((a: any) => a.statusCode)).toEqual([500, 503, 200]);

      const rot = await fetch(`${base}/v1/admin/tenants/${tenant.id}/webhook-secret/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(rot.status).toBe(200);
      current = ((await rot.json()) as { webhookSecret: string }).webhookSecret;
      expect(current).not.toBe(oldSecret);

      // During the overlap: 500, then 200, each signed with the new and the old secret.
      const after = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: rx.url } })).body;
      const d2 = await delivered(after.id);
      expect(d2.attempts.map((a: any) => a.statusCode)).toEqual([500, 200]);
      expect(rx.received).toHaveLength(5);
      expect(rx.received.every((r) => r.verified)).toBe(true);
      expect(rx.received[4]!.headers['webhook-signature']!.split(' ')).toHaveLength(2);

      // The worker logs each attempt after recording it: wait for the fifth line.
      const attemptLines = () =>
        workerLogs
          .text()
          .split('\n')
          .filter((l) => l.includes('"msg":"webhook attempt"'));
      await waitUntil('five logged webhook attempts', async () => (attemptLines().length >= 5 ? true : undefined), 10_000);
      // Stopping flushes whatever the processes still hold, shutdown lines included.
      await workerProc!.stop('SIGTERM');
      await apiProc!.stop('SIGTERM');

      // Logging was on and saw the deliveries, so an absent secret means something.
      const lines = attemptLines();
      for (const d of [d1, d2]) expect(lines.filter((l) => l.includes(d.id)).length).toBe(d.attempts.length);
      expect(lines.some((l) => l.includes('"statusCode":500'))).toBe(true);
      expect(lines.some((l) => l.includes('"statusCode":200'))).toBe(true);
      expect(workerLogs.text()).toContain('"msg":"worker stopped"');
      expect(apiLogs.text()).toContain('Spool API listening');

      for (const [name, text] of [
        ['worker', workerLogs.text()],
        ['api', apiLogs.text()],
      ] as const) {
        for (const form of [...secretForms(oldSecret), ...secretForms(current)]) {
          expect(text.includes(form), `${name} logs contain ${form.slice(0, 12)}…`).toBe(false);
        }
      }
    } finally {
      await rx.close();
    }
  });
});
