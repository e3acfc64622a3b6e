/**
 * Queue depth at scrape time (packages/core/src/queue/depth.ts) against the real Redis: the
 * gauges follow BullMQ's counts, scrapes within the cache window (and concurrent ones) share
 * one read, and a Redis that does not answer neither fails nor holds the scrape.
 */
import { queueDepth } from '@spool/core/metrics';
import { createDepthSampler } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import { type JobType, Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { freePort } from '../support/ports.ts';
import { randomPrefix } from '../support/stack.ts';

const depth = async (queue: string, state: string) =>
  (await queueDepth.get()).values.find((v) => v.labels.queue === queue && v.labels.state === state)?.value;

describe('queue depth sampler', () => {
  const connection = createRedis(REDIS_URL, 'producer');
  const queue = new Queue('depth-q', { connection, prefix: randomPrefix() });
  queue.on('error', () => {});
  afterAll(async () => {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await connection.quit();
  });

  it('reads BullMQ counts once per window, shared by concurrent scrapes', async () => {
    await queue.add('x', {});
    await queue.add('x', {}, { delay: 60_000 });
    let reads = 0;
    const counted = new Proxy(queue, {
      get(target, prop, receiver) {
        if (prop === 'getJobCounts')
          return (...args: JobType[]) => {
            reads++;
            return target.getJobCounts(...args);
          };
        return Reflect.get(target, prop, receiver);
      },
    });
    const sample = createDepthSampler(() => [counted], { ttlMs: 400 });

    await Promise.all(Array.from({ length: 10 }, () => sample()));
    expect(reads).toBe(1);
    expect(await depth('depth-q', 'wait')).toBe(1); // the other one is delayed
    expect(await depth('depth-q', 'delayed')).toBe(1);
    expect(await depth('depth-q', 'active')).toBe(0);

    await queue.add('x', {});
    await sample();
    expect(reads).toBe(1); // within the window: the cached numbers
    expect(await depth('depth-q', 'wait')).toBe(1);

    await new Promise((r) => setTimeout(r, 450));
    await sample();
    expect(reads).toBe(2);
    expect(await depth('depth-q', 'wait')).toBe(2);
  });

  it('a Redis that does not answer: the scrape returns within the bound and keeps the last values', async () => {
    queueDepth.set({ queue: 'dead-q', state: 'wait' }, 7);
    // A port nobody listens on: the producer connection fails fast (no offline queue).
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}`, 'producer', { retryStrategy: () => null });
    dead.on('error', () => {});
    const deadQueue = new Queue('dead-q', { connection: dead, prefix: randomPrefix() });
    deadQueue.on('error', () => {});
    const sample = createDepthSampler(() => [deadQueue], { timeoutMs: 500 });
    const started = Date.now();
    await expect(sample()).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await depth('dead-q', 'wait')).toBe(7);
    await deadQueue.close().catch(() => {});
    dead.disconnect();
  });
});
