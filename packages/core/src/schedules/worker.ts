/**
 * The schedules worker: turns a tick of a BullMQ job scheduler into a Spool job through the
 * same path as `POST /v1/jobs` (validated, row committed, then enqueued), with the idempotency
 * key `schedule:<id>:<tick time>` so a tick handled twice (a retry, a worker that died after the
 * commit) makes one job. Its `sweep` runs under the reconciler's lock and makes Redis's job
 * schedulers match PostgreSQL's schedules again (after a Redis flush, or an upsert or removal
 * that failed).
 */
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.ts';
import { isUnavailable, toSpoolError } from '../errors.ts';
import type { EventBuffer } from '../events/redis-buffer.ts';
import type { JobRegistry } from '../jobs/registry.ts';
import { JobService } from '../jobs/service.ts';
import { createSubmitGuard } from '../jobs/submit-guard.ts';
import { type Logger, warnOnErrors } from '../logger.ts';
import { reconcilerRepairs } from '../metrics.ts';
import type { BudgetDefaults } from '../providers/budget.ts';
import type { ModelCatalog } from '../providers/catalog.ts';
import type { Queues } from '../queue/queues.ts';
import { stepAside } from '../queue/step-aside.ts';
import type { WebhookProducer } from '../webhooks/queue.ts';
import { repeatStrategy } from './cron.ts';
import { createScheduler, SCHEDULE_QUEUE, type Scheduler, type TickData } from './queue.ts';
import * as store from './store.ts';

export interface ScheduleWorkerDeps {
  db: Database;
  registry: JobRegistry;
  /** The worker connection (retries forever). */
  connection: Redis;
  prefix: string;
  /** The job types' queues, the event buffer and the webhook producer: what a submit needs. */
  queues: Queues;
  buffer: EventBuffer;
  webhooks: WebhookProducer;
  budgets: BudgetDefaults;
  /** The models a scheduled job may name (checked at each tick, as at submit). */
  models: ModelCatalog;
  allowPrivateWebhooks: boolean;
  /** SPOOL_WORKER_LOCK_MS: how soon a tick on a dead worker is taken over. */
  lockMs: number;
  log: Logger;
}

export interface ScheduleWorker {
  worker: Worker<TickData>;
  scheduler: Scheduler;
  /**
   * Upserts the schedulers Redis lacks or holds with another expression, and removes those
   * PostgreSQL no longer has or has paused.
   */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

// Ticks only insert a row and add a job: a few at a time is plenty.
const CONCURRENCY = 4;
const SWEEP_BATCH = 500;
/** How long a tick waits out a PostgreSQL outage before it is given up. */
const TICK_PATIENCE_MS = 3_600_000;

export function startScheduleWorker(deps: ScheduleWorkerDeps): ScheduleWorker {
  const { db, connection, prefix } = deps;
  const log = deps.log.child({ module: 'schedules' });
  const scheduler = createScheduler(connection, prefix, log);
  const jobs = new JobService({
    db,
    queues: deps.queues,
    registry: deps.registry,
    redis: connection,
    buffer: deps.buffer,
    webhooks: deps.webhooks,
    allowPrivateWebhooks: deps.allowPrivateWebhooks,
    guard: createSubmitGuard({ db, budgets: deps.budgets, models: deps.models }),
    log,
  });

  /**
   * Removes the scheduler of a schedule read as paused or deleted, then reads it again: a resume
   * that committed after the first read may have upserted before this removal, and is put back
   * (false). A resume that commits after the second read upserts after the removal itself.
   */
  async function removeUnlessResumed(id: string): Promise<boolean> {
    await scheduler.remove(id);
    const row = await store.getScheduleById(db, id);
    if (!row?.enabled) return true;
    await scheduler.upsert(row);
    return false;
  }

  /**
   * A tick while PostgreSQL is unreachable waits for it, as a job does, without spending a
   * try: its 5 tries covered 15 s, and a longer outage (a managed failover takes minutes) lost
   * the tick without a word. A tick still waiting after an hour is given up (logged).
   */
  async function tickOrWait(job: Job<TickData>, token?: string): Promise<void> {
    try {
      await tick(job);
    } catch (err) {
      const firedAt = job.opts.prevMillis ?? job.timestamp;
      if (!isUnavailable(err) || Date.now() - firedAt > TICK_PATIENCE_MS) throw err;
      log.warn({ err: String(err), scheduleId: job.data.scheduleId }, 'PostgreSQL unreachable; the tick waits for it');
      await stepAside(job, token, 1_000 + Math.floor(Math.random() * 1_000));
    }
  }

  async function tick(job: Job<TickData>): Promise<void> {
    const id = job.data.scheduleId;
    // The tick's own time, not the time it ran: the same tick retried gets the same key.
    const firedAt = new Date(job.opts.prevMillis ?? job.timestamp);
    const s = await store.getScheduleById(db, id);
    if (!s?.enabled) {
      // Deleted or paused while Redis was unreachable: the scheduler outlived its row's say.
      if (await removeUnlessResumed(id)) log.info({ scheduleId: id }, 'removed the scheduler of a deleted or paused schedule');
      return;
    }
    try {
      const [out] = await jobs.submit(s.tenantId, [
        {
          type: s.jobType,
          input: s.jobInput,
          idempotencyKey: `schedule:${s.id}:${firedAt.getTime()}`,
          ...(s.jobPriority ? { priority: s.jobPriority } : {}),
          ...(s.jobWebhookUrl ? { webhook: { url: s.jobWebhookUrl } } : {}),
          // Which schedule made the job, visible on the job itself.
          metadata: { ...((s.jobMetadata as Record<string, unknown> | null) ?? {}), scheduleId: s.id },
        },
      ]);
      await store.recordRun(db, s.id, { firedAt, jobId: out!.job.id, error: null });
    } catch (err) {
      const e = toSpoolError(err);
      // Refused by the submit path (type gone, budget spent, input no longer valid after a
      // deploy): trying the same tick again cannot help. Record why, wait for the next tick.
      // A refusal that may pass in a moment (the webhook's host did not resolve) is tried again
      // like an outage, and recorded only when the tick's last try fails too.
      const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (e.status >= 400 && e.status < 500 && (!e.retryable || lastTry)) {
        log.warn({ scheduleId: s.id, code: e.code, message: e.message }, 'scheduled job refused');
        await store.recordRun(db, s.id, { firedAt, jobId: null, error: { code: e.code, message: e.message } });
        return;
      }
      throw err; // PostgreSQL down and the like: BullMQ tries the tick again.
    }
  }

  const worker = new Worker<TickData>(SCHEDULE_QUEUE, tickOrWait, {
    connection,
    prefix,
    concurrency: CONCURRENCY,
    lockDuration: deps.lockMs,
    stalledInterval: deps.lockMs,
    // The worker places each next tick when one completes: with the same strategy as the queue.
    settings: { repeatStrategy },
  });
  warnOnErrors(worker, log, 'schedules worker error');

  async function sweep(): Promise<void> {
    let upserted = 0;
    let removed = 0;
    for (let after = ''; ; ) {
      const rows = await store.enabledSchedulesAfter(db, after, SWEEP_BATCH);
      if (rows.length === 0) break;
      after = rows.at(-1)!.id;
      const matching = await scheduler.matching(rows);
      for (const r of rows) {
        if (matching.has(r.id)) continue;
        await scheduler.upsert(r);
        upserted++;
      }
    }
    for await (const ids of scheduler.ids()) {
      const live = await store.existingEnabled(db, ids);
      for (const id of ids) {
        if (live.has(id)) continue;
        if (await removeUnlessResumed(id)) removed++;
      }
    }
    if (upserted > 0) reconcilerRepairs.inc({ kind: 'scheduler_upserted' }, upserted);
    if (removed > 0) reconcilerRepairs.inc({ kind: 'scheduler_removed' }, removed);
    if (upserted + removed > 0) log.info({ upserted, removed }, 'reconciler repaired schedules');
  }

  return {
    worker,
    scheduler,
    sweep,
    async close() {
      await worker.close();
      await scheduler.close();
    },
  };
}
