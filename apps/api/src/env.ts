import { apiEnv, baseEnv, budgetEnv, databaseEnv, jobsEnv, loadEnv, providerEnv, redisEnv } from '@spool/core/env';
import { ModelCatalog } from '@spool/core/providers/catalog';
import { modelsConfig } from '@spool/core/providers/config';
import type { ApiBuildOptions } from './build.ts';

export const ApiEnvSchema = baseEnv
  .merge(databaseEnv)
  .merge(redisEnv)
  .merge(jobsEnv)
  .merge(apiEnv)
  .merge(providerEnv)
  .merge(budgetEnv);
export type ApiConfig = ReturnType<typeof loadApiEnv>;
export const loadApiEnv = (source: NodeJS.ProcessEnv = process.env) => loadEnv(ApiEnvSchema, source);

/** The API's options from its configuration (standalone API and the one-process mode). */
export function apiOptions(
  env: ApiConfig,
  rest: Pick<ApiBuildOptions, 'db' | 'registry' | 'log'> & Partial<ApiBuildOptions>,
): ApiBuildOptions {
  return {
    redisUrl: env.REDIS_URL,
    prefix: env.SPOOL_QUEUE_PREFIX,
    adminToken: env.SPOOL_ADMIN_TOKEN,
    bodyLimitBytes: env.SPOOL_BODY_LIMIT_BYTES,
    sseBufferEvents: env.SPOOL_SSE_BUFFER_EVENTS,
    sseHeartbeatMs: env.SPOOL_SSE_HEARTBEAT_MS,
    rateLimitPerMin: env.SPOOL_RATE_LIMIT_PER_MIN,
    webhooks: { allowPrivate: env.SPOOL_WEBHOOK_ALLOW_PRIVATE, secretOverlapMs: env.SPOOL_WEBHOOK_SECRET_OVERLAP_MS },
    budgets: { dailyUsd: env.SPOOL_TENANT_DAILY_BUDGET_USD, monthlyUsd: env.SPOOL_TENANT_MONTHLY_BUDGET_USD },
    models: new ModelCatalog(modelsConfig(env)),
    ...rest,
  };
}
