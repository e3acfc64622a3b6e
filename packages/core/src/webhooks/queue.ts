/**
 * The `webhooks` BullMQ queue: one BullMQ job per delivery, id = the delivery's `webhook-id`.
 * PostgreSQL's outbox row is the truth; this queue only wakes a worker when a delivery is due.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, warnOnErrors } from '../logger.ts';

export const WEBHOOK_QUEUE = 'webhooks';

export interface WebhookProducer {
  queue: Queue;
  /** Adds deliveries that are due in `delayMs` (0: now). Re-adding a waiting id is a no-op. */
  enqueue(ids: string[], delayMs?: number): Promise<void>;
  /** Replaces a finished BullMQ job of this delivery with a new one, due now (redelivery). */
  requeue(id: string): Promise<void>;
  close(): Promise<void>;
}

export function createWebhookProducer(connection: Redis, prefix: string, log: Logger): WebhookProducer {
  const queue = new Queue(WEBHOOK_QUEUE, { connection, prefix });
  warnOnErrors(queue, log, 'webhook queue error');
  const opts = (id: string, delayMs = 0) => ({
    jobId: id,
    // Retries follow the delivery schedule (schedule.ts); BullMQ's count is only a ceiling.
    attempts: 1_000,
    backoff: { type: 'webhook' },
    ...(delayMs > 0 ? { delay: delayMs } : {}),
    removeOnComplete: { age: 3_600, count: 1_000 },
    removeOnFail: { age: 24 * 3_600, count: 5_000 },
  });
  return {
    queue,
    async enqueue(ids, delayMs) {
      if (ids.length === 0) return;
      await queue.addBulk(ids.map((id) => ({ name: 'deliver', data: { deliveryId: id }, opts: opts(id, delayMs) })));
    },
    async requeue(id) {
      await queue.remove(id).catch(() => 0);
      await queue.add('deliver', { deliveryId: id }, opts(id));
    },
    close: () => queue.close(),
  };
}
