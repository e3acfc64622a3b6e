/**
 * Fault: PostgreSQL unreachable. The shared server cannot be stopped, so the stack reaches it
 * through a TCP proxy the test cuts: refused (a stopped server) or blackholed (a partition).
 * While cut, the API must answer fast and honestly — 503 with Retry-After and the JSON error
 * body, never a 500, a 401 for a valid key, or a hang — and it must recover by itself once
 * PostgreSQL is reachable again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';
import { type CutMode, type PgProxy, startPgProxy, throughProxy } from '../support/pg-proxy.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

// Correctness bounds, not benchmarks. A refused connection fails at once, so the answer comes
// in well under 5 s. A partition shows only as silence: the API gives up at its request
// deadline (REQUEST_DEADLINE_MS, 8 s; readiness checks at 2 s), plus slack for a busy machine.
const ANSWER_WITHIN_MS: Record<CutMode, number> = { refuse: 5_000, blackhole: 11_000 };

async function timed(fn: () => Promise<Response>) {
  const start = performance.now();
  const res = await fn();
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, ms: performance.now() - start };
}

describe('fault: PostgreSQL unreachable', () => {
  let proxy: PgProxy;
  let stack: Stack;
  let adminToken: string;

  beforeAll(async () => {
    proxy = await startPgProxy();
    const database = await throughProxy(await freshDatabase(), proxy);
    stack = await startStack({ worker: false, database });
    adminToken = stack.adminToken;
  });
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await stack?.close();
    await stack?.database.drop();
    await proxy?.close();
  });

  const request = (path: string, apiKey: string | undefined, init: RequestInit = {}) =>
    timed(() =>
      fetch(`${stack.url}${path}`, {
        ...init,
        headers: {
          ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          ...(init.body ? { 'content-type': 'application/json' } : {}),
        },
        // The test's own bound: a hang shows as an abort error, not as a stuck test run.
        signal: AbortSignal.timeout(30_000),
      }),
    );
  const submit = (apiKey: string) =>
    request('/v1/jobs', apiKey, { method: 'POST', body: JSON.stringify({ type: 'debug-steps', input: { steps: 1 } }) });

  const expectUnavailable = (res: Awaited<ReturnType<typeof timed>>, what: string, withinMs: number) => {
    expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(503);
    expect(Number(res.headers.get('retry-after')), `${what}: Retry-After`).toBeGreaterThan(0);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.ms, `${what}: answered after ${Math.round(res.ms)} ms`).toBeLessThan(withinMs);
  };

  for (const mode of ['refuse', 'blackhole'] as CutMode[]) {
    it(`answers 503 with Retry-After while PostgreSQL is cut (${mode}), and recovers after`, async () => {
      // Two tenants: one key already used (cached by the API's key store), one never seen, so
      // both the cached path and the authentication lookup meet the outage.
      const used = await stack.tenant('used');
      const fresh = await stack.tenant('fresh');
      const before = await submit(used.apiKey);
      expect(before.status).toBe(202);
      expect((await request('/readyz', undefined)).status).toBe(200);
      // A busy API: every pooled connection established, so the outage meets open connections
      // (a partition leaves those silent, not closed) and not only new ones (connect timeout).
      const warm = await Promise.all(Array.from({ length: 12 }, () => request(`/v1/jobs/${before.body.id}`, used.apiKey)));
      expect(warm.map((r) => r.status)).toEqual(warm.map(() => 200));

      await proxy.cut(mode);
      try {
        // All at once: in a partition each one waits out the deadline.
        const [ready, cachedKey, freshKey, read, admin] = await Promise.all([
          request('/readyz', undefined),
          submit(used.apiKey),
          submit(fresh.apiKey),
          request(`/v1/jobs/${before.body.id}`, used.apiKey),
          request('/v1/admin/tenants', adminToken, { method: 'POST', body: JSON.stringify({ name: 'during' }) }),
        ]);
        expectUnavailable(ready, 'readyz', ANSWER_WITHIN_MS[mode]);
        expect(ready.body).toMatchObject({
          error: {
            code: 'not_ready',
            message: 'PostgreSQL is unreachable',
            details: { checks: { postgres: { ok: false }, redis: { ok: true } } },
          },
        });
        expectUnavailable(cachedKey, 'submit with a cached key', ANSWER_WITHIN_MS[mode]);
        expect(cachedKey.body).toMatchObject({ error: { code: 'service_unavailable' } });
        // A valid key that cannot be checked is not an invalid key: 503, not 401.
        expectUnavailable(freshKey, 'submit with a key not yet looked up', ANSWER_WITHIN_MS[mode]);
        expect(freshKey.body).toMatchObject({ error: { code: 'service_unavailable' } });
        expectUnavailable(read, 'get a job', ANSWER_WITHIN_MS[mode]);
        expectUnavailable(admin, 'admin create tenant', ANSWER_WITHIN_MS[mode]);

        // Still down: the next requests meet a pool that knows it (reconnects back off, capped).
        const later = await Promise.all([
          submit(used.apiKey),
          submit(fresh.apiKey),
          request(`/v1/jobs/${before.body.id}`, used.apiKey),
        ]);
        for (const [i, res] of later.entries())
          expectUnavailable(res, `request ${i} later in the outage`, ANSWER_WITHIN_MS[mode]);
        // Liveness does not depend on PostgreSQL.
        expect((await request('/healthz', undefined)).status).toBe(200);
      } finally {
        await proxy.restore();
      }

      // Let the driver see the resets of the restore (blackholed connections are dropped then,
      // as a partition's TCP timeouts would): a request racing them gets an honest 503.
      await new Promise((r) => setTimeout(r, 500));
      // Recovery needs no restart and takes seconds, not the 10–20 s that postgres.js's default
      // reconnect backoff reaches after a few failed connections (Spool caps it at 2 s).
      const recovered = await Promise.all(Array.from({ length: 10 }, () => request(`/v1/jobs/${before.body.id}`, used.apiKey)));
      expect(recovered.map((r) => r.status)).toEqual(recovered.map(() => 200));
      expect(Math.max(...recovered.map((r) => r.ms))).toBeLessThan(5_000);
      // The key first looked up during the outage is valid: the failed lookup left no trace.
      // (Before postgres.js was patched, that lookup stayed pending and later resolved with no
      // rows, so the key was cached as invalid: 401 for 10 s after PostgreSQL was back.)
      const after = await submit(fresh.apiKey);
      expect(after.status, JSON.stringify(after.body)).toBe(202);
      expect(after.body.status).toBe('queued');
      expect((await request('/readyz', undefined)).status).toBe(200);
      const read = await request(`/v1/jobs/${before.body.id}`, used.apiKey);
      expect(read.status).toBe(200);
      // The worker started by an earlier case may have taken it already.
      expect(['queued', 'running', 'completed']).toContain(read.body.status);

      // The jobs accepted before and after the outage run to completion (the worker, started
      // in the first case, lived through the later cut on the same proxy).
      if (!stack.worker) await stack.startWorker();
      for (const [key, id] of [
        [used.apiKey, before.body.id],
        [fresh.apiKey, after.body.id],
      ] as const) {
        const api = client(stack.url, key);
        const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 30_000).catch(async (err) => {
          // Say where it is stuck: PostgreSQL's view and BullMQ's.
          const row = (await api.get(id)).body;
          const state = await (await stack.api.queues.get('debug-steps').getJob(id))?.getState();
          throw new Error(`${err.message}; attempts ${row.attempts}, steps ${JSON.stringify(row.steps)}, BullMQ state ${state}`);
        });
        expect(job.status).toBe('completed');
      }
    });
  }
});
