/**
 * Delivers webhooks: signs (Standard Webhooks), checks the target again at connect time,
 * POSTs, records the attempt, and schedules the next one. A per-tenant cap on deliveries in
 * flight keeps one slow receiver from holding every slot.
 */
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { type Logger, warnOnErrors } from '../logger.ts';
import { webhookAttemptDuration, webhookDeliveries } from '../metrics.ts';
import { stepAside } from '../queue/step-aside.ts';
import { createTenantSlots } from '../queue/tenant-slots.ts';
import { getDelivery, pendingDeliveries, recordAttempt } from '../store/webhooks.ts';
import { within } from '../time.ts';
import { webhookBody } from './body.ts';
import { postWebhook } from './post.ts';
import { WEBHOOK_QUEUE, type WebhookProducer } from './queue.ts';
import { judge, nextDelay } from './schedule.ts';
import { signatureHeaders } from './sign.ts';
import { checkWebhookTarget, type WebhookLookup } from './ssrf.ts';

export interface WebhookWorkerOptions {
  retryDelaysMs: number[];
  timeoutMs: number;
  allowPrivate: boolean;
  concurrency: number;
  tenantConcurrency: number;
  /** SPOOL_WORKER_LOCK_MS: how soon a delivery in flight on a dead worker is taken over. */
  lockMs?: number;
  /** The SSRF guard's resolver; node's `dns.lookup` unless a test injects one (see ssrf.ts). */
  lookup?: WebhookLookup | undefined;
}

/** Thrown to let BullMQ schedule the next attempt after exactly `delayMs`. */
class RetryLater extends Error {
  constructor(readonly delayMs: number) {
    super(`next attempt in ${delayMs} ms`);
  }
}

export function startWebhookWorker(
  deps: { db: Database; connection: Redis; prefix: string; producer: WebhookProducer; log: Logger },
  opts: WebhookWorkerOptions,
) {
  const { db, connection, prefix } = deps;
  const log = deps.log.child({ module: 'webhooks' });
  // A delivery's slot lapses on its own, so the slots a killed worker held come back: a counter
  // did not (every deferred try renewed its expiry), and stopped the tenant's deliveries.
  const slots = createTenantSlots(connection, `${prefix}:webhooks:in-flight`, opts.tenantConcurrency, () => deps.producer.queue);
  const slotHoldMs = 2 * opts.timeoutMs + 5_000;

  async function deliver(job: Job, token?: string): Promise<void> {
    const d = await getDelivery(db, job.data.deliveryId as string);
    if (d?.status !== 'pending') return;
    // The schedule's first delay (0 by default) is the wait before the first attempt: the
    // delivery is enqueued at once by whichever process ended the job. Checked only when there
    // is one (the row's time is PostgreSQL's clock, compared with this process's).
    const firstDelay = opts.retryDelaysMs[0] ?? 0;
    const firstDue = d.attempts === 0 && firstDelay > 0 ? new Date(d.next_attempt_at).getTime() + firstDelay : 0;
    if (firstDue > Date.now()) return stepAside(job, token, firstDue - Date.now());

    if (slots) {
      // The tenant has its cap in flight: wait in its line, woken by the release that frees a
      // slot, as jobs do (run-job.ts). Polling every 250–500 ms cost a PostgreSQL read, a script
      // and a move per waiting delivery: a backlog of 2,000 behind a slow receiver drove about
      // 5,000 transactions a second (outside audit). The delay is the safety net for a slot
      // that lapses without a release (a killed worker).
      const place = await slots.acquireOrQueue(d.tenant_id, job as Job & { id: string }, slotHoldMs);
      if (place !== undefined) return stepAside(job, token, Math.min(60_000, 2_000 + place * 20));
    }
    try {
      const attempt = d.attempts + 1;
      const startedAt = new Date();
      let statusCode: number | undefined;
      let error: string | undefined;
      let retryAfter: string | null | undefined;
      let latencyMs = 0;
      let refused = false;
      try {
        // Bounded like the POST: a resolver that never answers (a dead authoritative server)
        // held the attempt, and its slot, for ever.
        const host = new URL(d.url).hostname;
        const target = await within(
          opts.timeoutMs,
          checkWebhookTarget(d.url, opts.allowPrivate, opts.lookup),
          `${host} did not resolve`,
        );
        const body = webhookBody(d.event_type, d.snapshot);
        const overlap = d.previous_secret_expires_at && new Date(d.previous_secret_expires_at).getTime() > Date.now();
        const headers = signatureHeaders(
          { current: d.webhook_secret, previous: overlap ? d.previous_webhook_secret : null },
          d.id,
          startedAt,
          body,
        );
        const r = await postWebhook(target, headers, body, opts.timeoutMs);
        ({ statusCode, error, retryAfter, latencyMs } = r);
      } catch (err) {
        // The target now resolves to a forbidden address (DNS changed): never retry that.
        error = err instanceof Error ? err.message : String(err);
        refused = err instanceof SpoolError && err.code === 'webhook_url_forbidden';
      }
      webhookAttemptDuration.observe(latencyMs / 1000);

      const verdict = refused ? { kind: 'stop' as const } : judge(statusCode, retryAfter);
      const delay = verdict.kind === 'retry' ? nextDelay(opts.retryDelaysMs, attempt + 1, verdict.retryAfterMs) : undefined;
      const status = verdict.kind === 'success' ? 'succeeded' : delay === undefined ? 'failed' : 'pending';
      const nextRetryAt = delay === undefined ? null : new Date(Date.now() + delay);
      if (statusCode !== undefined && statusCode >= 300 && statusCode < 400) error ??= `redirect (${statusCode}) not followed`;
      await recordAttempt(db, {
        deliveryId: d.id,
        attempt,
        startedAt,
        statusCode: statusCode ?? null,
        latencyMs,
        error: error ?? (verdict.kind === 'success' ? null : `HTTP ${statusCode}`),
        status,
        nextRetryAt,
      });
      webhookDeliveries.inc({ outcome: status === 'pending' ? 'retry' : status });
      log.info({ deliveryId: d.id, jobId: d.job_id, attempt, statusCode, error, status, nextRetryAt }, 'webhook attempt');
      if (status === 'pending') throw new RetryLater(delay!);
    } finally {
      await slots?.release(d.tenant_id, d.id, slotHoldMs).catch(() => {});
    }
  }

  const worker = new Worker(WEBHOOK_QUEUE, deliver, {
    connection,
    prefix,
    concurrency: opts.concurrency,
    ...(opts.lockMs ? { lockDuration: opts.lockMs, stalledInterval: opts.lockMs } : {}),
    settings: {
      backoffStrategy: (_made: number, _type?: string, err?: Error) => (err instanceof RetryLater ? err.delayMs : 5_000),
    },
  });
  warnOnErrors(worker, log, 'webhook worker error');

  /** Reconciler sweep: pending deliveries with no BullMQ job (a worker died after the commit, or Redis lost it). */
  async function sweep(): Promise<void> {
    let after = '';
    for (;;) {
      const rows = await pendingDeliveries(db, after, 5_000, 500);
      if (rows.length === 0) return;
      after = rows.at(-1)!.id;
      const pipe = connection.pipeline();
      for (const r of rows) pipe.hmget(`${prefix}:${WEBHOOK_QUEUE}:${r.id}`, 'timestamp', 'finishedOn');
      const states = (await pipe.exec()) ?? [];
      for (const [i, r] of rows.entries()) {
        const [timestamp, finishedOn] = (states[i]?.[1] ?? [null, null]) as (string | null)[];
        if (timestamp !== null && finishedOn === null) continue;
        const due = Math.max(0, new Date(r.next_attempt_at).getTime() - Date.now());
        if (finishedOn !== null) await deps.producer.requeue(r.id);
        else await deps.producer.enqueue([r.id], due);
        log.info({ deliveryId: r.id }, 'reconciler re-enqueued a webhook delivery');
      }
    }
  }

  return { worker, sweep, close: () => worker.close() };
}
