/**
 * A subscriber that is behind for a moment (a burst of events in one read from Redis, or a
 * replay slower than the job) is not dropped: past the live cap the events are let go and read
 * again from storage, so the stream goes on with every event once. Only a consumer stuck in a
 * write is dropped (test/sse/slow-subscriber).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventHub, followJob, type JobEvent } from '@spool/core/events';
import { createRedis, type Redis } from '@spool/core/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, log } from '../support/attempts.ts';
import { REDIS_URL } from '../support/env.ts';
import { sequenceProblem, until } from '../support/sse-client.ts';

describe('SSE: a subscriber behind past the live cap', () => {
  let h: AttemptHarness;
  let sub: Redis;

  beforeAll(async () => {
    h = await attemptHarness();
    sub = createRedis(REDIS_URL, 'subscriber');
  });
  afterAll(async () => {
    sub?.disconnect();
    await h?.close();
  });

  it('gets the events it missed from storage, each once and in order, and is not disconnected', async () => {
    const jobId = randomUUID();
    const total = 101;
    const progress = (seq: number): JobEvent => ({ seq, type: 'progress', data: { pct: seq, message: `at ${seq}` } });
    let overflows = 0;
    const hub = new EventHub(sub, h.prefix, log);
    const stream = followJob({
      db: h.database.db,
      hub,
      buffer: h.buffer,
      jobId,
      after: 0,
      maxBuffered: 5,
      onOverflow: () => overflows++,
      signal: AbortSignal.timeout(15_000),
    });

    const seen: number[] = [];
    const reading = (async () => {
      for await (const e of stream) {
        seen.push(e.seq);
        // Busy elsewhere after the first event, while 99 more arrive: far past the cap of 5.
        if (e.seq === 1) await sleep(500);
      }
    })();
    // The stream subscribes before it reads storage: publish once the channel is live.
    await until(() => hub.channels === 1, 5_000, 'the subscription');
    await h.buffer.append(jobId, [progress(1)]);
    await sleep(100);
    for (let seq = 2; seq < total; seq++) await h.buffer.append(jobId, [progress(seq)]);
    await h.buffer.append(jobId, [{ seq: total, type: 'completed', data: { result: {} } }]);
    await reading;

    expect(overflows).toBeGreaterThan(0);
    expect(sequenceProblem(seen, 1, total)).toBe('');
  });
});
