/**
 * Queue depth for /metrics, read from BullMQ at scrape time. Several Prometheus servers (or a
 * dashboard refresh) may scrape at once: one read serves every scrape within `ttlMs`, and
 * concurrent scrapes share the read in flight, so Redis sees at most one round of
 * `getJobCounts` per queue per `ttlMs` whatever the scrape rate.
 */
import type { Queue } from 'bullmq';
import { queueDepth } from '../metrics.ts';
import { within } from '../time.ts';

/** The BullMQ states reported as `spool_queue_depth{state}`. */
export const DEPTH_STATES = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

export interface DepthSamplerOptions {
  /** 1 s: far under any scrape interval, and still one Redis round per second under any scrape rate. */
  ttlMs?: number;
  /** A Redis that does not answer must not hold the scrape: the last values stay. */
  timeoutMs?: number;
}

/**
 * Returns `sample()`, which refreshes `spool_queue_depth` for `queues()` unless it was
 * refreshed less than `ttlMs` ago. It never throws: on a Redis error the gauges keep their
 * last values (a scrape that fails entirely would hide every other series too).
 *
 * @example
 * const sampleDepth = createDepthSampler(() => deps.queues.all());
 * app.get('/metrics', async (c) => { await sampleDepth(); return c.text(await registry.metrics()); });
 */
export function createDepthSampler(queues: () => Queue[], opts: DepthSamplerOptions = {}): () => Promise<void> {
  const ttlMs = opts.ttlMs ?? 1_000;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  let readAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  const read = async () => {
    const counts = await Promise.all(queues().map(async (q) => [q.name, await q.getJobCounts(...DEPTH_STATES)] as const));
    for (const [queue, byState] of counts) {
      for (const state of DEPTH_STATES) queueDepth.set({ queue, state }, byState[state] ?? 0);
    }
    readAt = Date.now();
  };

  return () => {
    if (Date.now() - readAt < ttlMs) return Promise.resolve();
    inFlight ??= within(timeoutMs, read())
      .catch(() => {})
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}
