import { baseEnv, budgetEnv, databaseEnv, jobsEnv, loadEnv, providerEnv, redisEnv, workerEnv } from '@spool/core/env';
import { modelsConfig } from '@spool/core/providers';
import { DEFAULT_RETRY_DELAYS_MS } from '@spool/core/webhooks';
import type { WorkerOptions } from './worker.ts';

export const WorkerEnvSchema = baseEnv
  .merge(databaseEnv)
  .merge(redisEnv)
  .merge(jobsEnv)
  .merge(workerEnv)
  .merge(providerEnv)
  .merge(budgetEnv);
export type WorkerConfig = ReturnType<typeof loadWorkerEnv>;
export const loadWorkerEnv = (source: NodeJS.ProcessEnv = process.env) => loadEnv(WorkerEnvSchema, source);

/** The worker's options from its configuration (standalone worker and the one-process mode). */
export function workerOptions(env: WorkerConfig, redisUrl = env.REDIS_URL): WorkerOptions {
  return {
    redisUrl,
    prefix: env.SPOOL_QUEUE_PREFIX,
    lockMs: env.SPOOL_WORKER_LOCK_MS,
    concurrency: env.SPOOL_CONCURRENCY,
    reconcileIntervalMs: env.SPOOL_RECONCILE_INTERVAL_MS,
    retentionDays: env.SPOOL_JOB_RETENTION_DAYS,
    tenantConcurrency: env.SPOOL_TENANT_CONCURRENCY,
    webhooks: {
      retryDelaysMs: env.SPOOL_WEBHOOK_RETRY_DELAYS ?? DEFAULT_RETRY_DELAYS_MS,
      timeoutMs: env.SPOOL_WEBHOOK_TIMEOUT_MS,
      allowPrivate: env.SPOOL_WEBHOOK_ALLOW_PRIVATE,
      concurrency: env.SPOOL_WEBHOOK_CONCURRENCY,
      tenantConcurrency: env.SPOOL_WEBHOOK_TENANT_CONCURRENCY,
    },
    models: modelsConfig(env),
  };
}
