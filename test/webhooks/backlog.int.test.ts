/**
 * A tenant's backlog of deliveries held back by its cap waits in the tenant's line, woken when
 * a slot frees: it costs next to nothing meanwhile. Polled every 250–500 ms instead, each
 * waiting delivery cost a PostgreSQL read, a script and a move, and 2,000 of them drove about
 * 5,000 transactions a second while 4 requests were in flight.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '@spool/core/redis';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

const CAP = 4;
const BACKLOG = 300;
const redis = createRedis(REDIS_URL, 'worker');

describe('webhooks: a backlog behind a receiver that never answers', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      webhooks: { concurrency: 50, tenantConcurrency: CAP, timeoutMs: 15_000, retryDelaysMs: [0, 60_000] },
    });
  });
  afterAll(async () => {
    await stack?.close();
    redis.disconnect();
  });

  it('waits without work: PostgreSQL transactions stay few while the cap is full, and another tenant is served', async () => {
    const [ta, tb] = [await stack.tenant('backlog-a'), await stack.tenant('backlog-b')];
    const held = new Set<ServerResponse>();
    const hanging = createServer((req, res) => {
      req.resume();
      held.add(res);
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/hook`;
    const rxB = await startReceiver(() => tb.webhookSecret);
    const db = stack.database.db;
    const commits = async () =>
      Number(
        (await db.query<{ x: string }>(sql`SELECT xact_commit AS x FROM pg_stat_database WHERE datname = current_database()`))[0]!
          .x,
      );
    try {
      const batch = Array.from({ length: BACKLOG }, () => ({ type: 'debug-steps', input: { steps: 0 }, webhook: { url } }));
      expect((await client(stack.url, ta.apiKey).call('POST', '/v1/jobs/batch', { jobs: batch })).status).toBe(202);
      for (;;) {
        const [row] = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_deliveries`);
        if (row!.n >= BACKLOG) break;
        await sleep(100);
      }
      // Every delivery has come once and joined the line (a fixed 2 s was too short on a busy
      // machine: first comings fell into the measured window).
      const line = `${stack.prefix}:webhooks:in-flight:${ta.id}:line`;
      for (const deadline = Date.now() + 30_000; (await redis.zcard(line)) < BACKLOG - CAP && Date.now() < deadline; )
        await sleep(100);
      expect(await redis.zcard(line)).toBe(BACKLOG - CAP);
      await sleep(500);
      const before = await commits();
      const startedAt = Date.now();
      await sleep(4_000);
      const perSecond = ((await commits()) - before) / ((Date.now() - startedAt) / 1000);
      expect(held.size).toBe(CAP);
      // Polling every 250–500 ms: ~900 a second for these 300. Waiting in line: the safety net
      // (a delivery comes back after 2 s + 20 ms per place ahead of it, one read each: about
      // 70 a second for 296 in line, Σ 1/(2 + 0.02p)) and the reconciler's few. 89 and 126 were
      // measured here; 100 as the bound failed a CI run on a busy machine.
      expect(perSecond).toBeLessThan(250);

      await client(stack.url, tb.apiKey).submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: rxB.url } });
      expect(await rxB.waitFor(1, 10_000)).toHaveLength(1);
    } finally {
      for (const r of held) r.destroy();
      hanging.closeAllConnections();
      hanging.close();
      await rxB.close();
    }
  });
});
