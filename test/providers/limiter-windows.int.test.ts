/**
 * The shared limiter's fixed windows on the real Redis: a correction that arrives after its
 * window ended must not enlarge the next one (rate-limiter-flexible's `reward` on an expired
 * key starts a new window below zero).
 */
import { randomBytes } from 'node:crypto';
import { SharedLimiter } from '@spool/core/providers';
import { createRedis, type Redis } from '@spool/core/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';

let redis: Redis;
let other: Redis; // a second connection: "another process"
beforeAll(() => {
  redis = createRedis(REDIS_URL, 'worker');
  other = createRedis(REDIS_URL, 'worker');
});
afterAll(async () => {
  await Promise.all([redis, other].map((c) => c?.quit().catch(() => {})));
});

describe('limiter windows', () => {
  it('a reservation settled after its window ended gives nothing to the next window', async () => {
    const p = `spooltest-${randomBytes(4).toString('hex')}`;
    const signal = new AbortController().signal;
    const a = new SharedLimiter(redis, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    const b = new SharedLimiter(other, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    const slow = await a.admit(90, signal);
    await new Promise((r) => setTimeout(r, 1_150)); // the call outlives its window
    await a.settle(slow, 10); // reported 10: the 80 over-reserved belonged to the window that ended
    expect((await b.admit(90, signal)).waitedMs).toBeLessThan(100); // a new window: 90 of 100
    const third = await b.admit(90, signal); // 180 > 100: waits for the window after
    expect(third.waitedMs).toBeGreaterThanOrEqual(500);
  });

  it('a correction within the window still gives the unused reservation back', async () => {
    const p = `spooltest-${randomBytes(4).toString('hex')}`;
    const signal = new AbortController().signal;
    const a = new SharedLimiter(redis, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    const b = new SharedLimiter(other, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    await a.settle(await a.admit(90, signal), 10);
    expect((await b.admit(90, signal)).waitedMs).toBeLessThan(100); // 10 + 90
  });
});
