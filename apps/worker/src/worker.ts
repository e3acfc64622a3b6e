/**
 * A worker process's parts: one BullMQ Worker per job type, the cancel listener, the event
 * writer and the reconciler. `startWorker` is used by main.ts and by the one-process mode.
 */
import type { Database } from '@spool/core/db';
import { budgetEnv, invalidConfiguration, loadEnv, providerEnv } from '@spool/core/env';
import { SpoolError } from '@spool/core/errors';
import { cancelChannel, EventBuffer, EventWriter } from '@spool/core/events';
import type { JobRegistry } from '@spool/core/jobs';
import { type Logger, warnOnErrors } from '@spool/core/logger';
import { workersRunning } from '@spool/core/metrics';
import { createModelService, ModelCatalog, type ModelsConfig, modelsConfig } from '@spool/core/providers';
import { backoffDelay, createQueues, createTenantSlots, Reconciler, runningSlotsKey } from '@spool/core/queue';
import { createRedis, type Redis } from '@spool/core/redis';
import { type ScheduleWorker, startScheduleWorker } from '@spool/core/schedules';
import { cancelRunning, interruptRunning } from '@spool/core/steps';
import { retentionSweep } from '@spool/core/store/retention';
import {
  createWebhookProducer,
  DEFAULT_RETRY_DELAYS_MS,
  startWebhookWorker,
  type WebhookWorkerOptions,
} from '@spool/core/webhooks';
import { Worker } from 'bullmq';
import { createProcessor } from './run-job.ts';

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  lockMs: number;
  concurrency: Record<string, number>;
  reconcileIntervalMs: number;
  /** SPOOL_JOB_RETENTION_DAYS: finished jobs older than this are deleted; 0 (default) keeps them. */
  retentionDays?: number;
  /** Webhook delivery settings; the defaults of workerEnv when omitted. */
  webhooks?: Partial<WebhookWorkerOptions>;
  /** SPOOL_TENANT_CONCURRENCY: jobs one tenant may run at once across all workers, 0 = no cap. */
  tenantConcurrency?: number;
  /** The model layer (providerEnv + budgetEnv through `modelsConfig`); default: the local provider only. */
  models?: ModelsConfig;
}

export interface RunningWorker {
  workers: Worker[];
  reconciler: Reconciler;
  /** The schedule ticks' worker and its BullMQ job schedulers. */
  schedules: ScheduleWorker;
  /**
   * Stops taking jobs, lets running ones finish, flushes events, closes connections. Jobs still
   * running after `graceMs` are interrupted: each goes back to the queue without spending an
   * attempt, and the next worker resumes it after its last completed step.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startWorker(
  deps: { db: Database; registry: JobRegistry; log: Logger },
  opts: WorkerOptions,
): Promise<RunningWorker> {
  // A typo in a type's name would leave that type at its default without a word.
  const unknown = Object.keys(opts.concurrency).filter((name) => !deps.registry.get(name));
  if (unknown.length > 0)
    throw invalidConfiguration([
      [
        'SPOOL_CONCURRENCY',
        `no job type ${unknown.map((n) => `"${n}"`).join(', ')} (types: ${deps.registry.list.map((d) => d.name).join(', ')})`,
      ],
    ]);
  // Each part names its module in a child of `deps.log` (a child of this one would repeat the key).
  const log = deps.log.child({ module: 'worker' });
  const connection = createRedis(opts.redisUrl, 'worker');
  const subscriber = createRedis(opts.redisUrl, 'subscriber');
  // Events of concurrent attempts (fences, appends, running and closing publishes). Kept off
  // BullMQ's connection: BullMQ does not support auto-pipelining, nor failing fast.
  const eventsRedis = createRedis(opts.redisUrl, 'events');
  for (const c of [connection, subscriber, eventsRedis]) c.on('error', (err) => log.debug({ err: err.message }, 'redis error'));

  const modelConfig = opts.models ?? defaultModelsConfig();
  const buffer = new EventBuffer(eventsRedis, opts.prefix);
  const events = new EventWriter(deps.db, buffer, log);
  const running = new Map<string, AbortController>();
  const shutdown = new AbortController();
  const producer = createWebhookProducer(connection, opts.prefix, log);
  const onDeliveries = (ids: string[]) => producer.enqueue(ids);
  const queues = createQueues(connection, opts.prefix, deps.registry.list, log);
  const tenantSlots = createTenantSlots(connection, runningSlotsKey(opts.prefix), opts.tenantConcurrency ?? 0, (name) =>
    queues.get(name),
  );
  const models = await createModelService({
    db: deps.db,
    redis: connection,
    prefix: opts.prefix,
    log: deps.log.child({ module: 'models' }),
    config: modelConfig,
  });

  // The events connection fails fast (no offline queue): an attempt that began before it was
  // ready could not take its fence, and its job would step aside for a second or two.
  if (eventsRedis.status !== 'ready') await new Promise((resolve) => eventsRedis.once('ready', resolve));
  await subscriber.subscribe(cancelChannel(opts.prefix));
  subscriber.on('message', (_channel: string, jobId: string) => {
    if (cancelRunning(running, jobId)) log.info({ jobId }, 'canceling running job');
  });

  const workers = deps.registry.list.map((def) => {
    const worker = new Worker(
      def.name,
      createProcessor({ db: deps.db, events, log, running, models, onDeliveries, tenantSlots, shutdown: shutdown.signal }, def),
      {
        connection,
        prefix: opts.prefix,
        concurrency: opts.concurrency[def.name] ?? def.concurrency,
        lockDuration: opts.lockMs,
        stalledInterval: opts.lockMs,
        // A job whose worker died is taken over; one that kills workers three times fails.
        maxStalledCount: 3,
        settings: {
          backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
            backoffDelay(def.retry, attemptsMade, err instanceof SpoolError ? err.retryAfterMs : undefined),
        },
      },
    );
    warnOnErrors(worker, log, 'worker error', { queue: def.name });
    workersRunning.inc({ queue: def.name });
    return worker;
  });

  const webhooks = startWebhookWorker(
    { db: deps.db, connection, prefix: opts.prefix, producer, log: deps.log },
    {
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      timeoutMs: 15_000,
      allowPrivate: false,
      concurrency: 50,
      tenantConcurrency: 4,
      lockMs: opts.lockMs,
      ...opts.webhooks,
    },
  );
  // Schedule ticks become jobs through the submit path; the reconciler re-upserts schedulers.
  const schedules = startScheduleWorker({
    db: deps.db,
    registry: deps.registry,
    connection,
    prefix: opts.prefix,
    queues,
    buffer,
    webhooks: producer,
    budgets: modelConfig.budgets,
    models: new ModelCatalog(modelConfig),
    allowPrivateWebhooks: opts.webhooks?.allowPrivate ?? false,
    lockMs: opts.lockMs,
    log: deps.log, // it names its own module
  });
  const reconciler = new Reconciler(
    {
      db: deps.db,
      redis: connection,
      queues,
      registry: deps.registry,
      buffer,
      log: deps.log.child({ module: 'reconciler' }),
      onDeliveries: (ids) => producer.enqueue(ids),
      sweeps: [
        webhooks.sweep,
        schedules.sweep,
        retentionSweep(deps.db, deps.log.child({ module: 'retention' }), opts.retentionDays ?? 0),
      ],
      releaseSlot: tenantSlots?.release,
    },
    { intervalMs: opts.reconcileIntervalMs },
  );
  reconciler.start();
  log.info({ types: deps.registry.list.map((d) => d.name), prefix: opts.prefix }, 'worker started');

  return {
    workers,
    reconciler,
    schedules,
    async close(graceMs = Number.POSITIVE_INFINITY) {
      await reconciler.stop();
      const interrupt = Number.isFinite(graceMs)
        ? setTimeout(() => {
            shutdown.abort();
            const jobs = interruptRunning(running);
            if (jobs > 0) log.warn({ jobs, graceMs }, 'grace period over: interrupting running jobs');
          }, graceMs)
        : undefined;
      await Promise.all([...workers.map((w) => w.close()), webhooks.close(), schedules.close()]);
      clearTimeout(interrupt);
      for (const w of workers) workersRunning.dec({ queue: w.name });
      await events.close();
      await queues.close();
      await producer.close();
      await Promise.all([subscriber.quit(), eventsRedis.quit(), connection.quit()].map((p) => p.catch(() => {})));
    },
  };
}

export type { Redis };

/** The model layer's defaults: every variable unset (the chain is `local`). */
const defaultModelsConfig = () => modelsConfig(loadEnv(providerEnv.merge(budgetEnv), {}));
