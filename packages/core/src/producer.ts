/**
 * The Redis side of a process that enqueues, cancels and follows jobs but runs none: the API,
 * and the dashboard in a process of its own. One fail-fast connection carries commands and the
 * queues (a submit must not hang on a dead Redis), one more subscribes to live events.
 */
import type { Database } from './db/client.ts';
import { EventBuffer, EventHub } from './events/index.ts';
import type { Logger } from './logger.ts';
import type { AnyJobDefinition } from './queue/define-job.ts';
import { createQueues, type Queues } from './queue/queues.ts';
import { createRedis, type Redis } from './redis/index.ts';
import { createScheduler, type Scheduler } from './schedules/queue.ts';
import { storedSeqs } from './store/events.ts';
import { createWebhookProducer, type WebhookProducer } from './webhooks/queue.ts';

export interface ProducerConnections {
  redis: Redis;
  queues: Queues;
  webhooks: WebhookProducer;
  scheduler: Scheduler;
  buffer: EventBuffer;
  hub: EventHub;
  close(): Promise<void>;
}

export function openProducer(o: {
  redisUrl: string;
  prefix: string;
  types: AnyJobDefinition[];
  log: Logger;
  /** For the event hub's check of stored seqs (hub.ts). */
  db: Database;
  /** How often that check runs (5 s by default; tests shorten it). */
  sseCheckMs?: number | undefined;
}): ProducerConnections {
  const redis = createRedis(o.redisUrl, 'producer');
  const sub = createRedis(o.redisUrl, 'subscriber');
  for (const c of [redis, sub]) c.on('error', (err) => o.log.debug({ err: err.message }, 'redis error'));
  const queues = createQueues(redis, o.prefix, o.types, o.log);
  const webhooks = createWebhookProducer(redis, o.prefix, o.log);
  const scheduler = createScheduler(redis, o.prefix, o.log);
  const hub = new EventHub(sub, o.prefix, o.log, { storedSeqs: (ids) => storedSeqs(o.db, ids), checkMs: o.sseCheckMs });
  return {
    redis,
    queues,
    webhooks,
    scheduler,
    buffer: new EventBuffer(redis, o.prefix),
    hub,
    async close() {
      hub.close();
      await queues.close();
      await webhooks.close();
      await scheduler.close();
      await Promise.all([redis.quit(), sub.quit()].map((p) => p.catch(() => {})));
    },
  };
}
