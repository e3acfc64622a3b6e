/** Builds the API's dependencies from configuration (used by main.ts and the one-process mode). */
import type { Database } from '@spool/core/db';
import { createSubmitGuard, type JobRegistry, JobService } from '@spool/core/jobs';
import type { Logger } from '@spool/core/logger';
import { openProducer } from '@spool/core/producer';
import type { BudgetDefaults } from '@spool/core/providers/budget';
import type { ModelCatalog } from '@spool/core/providers/catalog';
import { ScheduleService } from '@spool/core/schedules';
import { createKeyRateLimiter, KeyStore } from '@spool/core/tenants';
import type { WebhookLookup } from '@spool/core/webhooks';
import type { ApiDeps } from './deps.ts';

export interface ApiBuildOptions {
  db: Database;
  registry: JobRegistry;
  log: Logger;
  redisUrl: string;
  prefix: string;
  adminToken: string | undefined;
  bodyLimitBytes: number;
  sseBufferEvents: number;
  sseHeartbeatMs: number;
  /** How often live streams check PostgreSQL for an event whose publish was lost (5 s; tests shorten it). */
  sseCheckMs?: number;
  /** Per-tenant spend caps by default (budgetEnv); none when omitted. */
  budgets?: BudgetDefaults;
  /** The models jobs may name (providerEnv through `modelsConfig`). */
  models: ModelCatalog;
  /**
   * SPOOL_WEBHOOK_ALLOW_PRIVATE (off when omitted) and SPOOL_WEBHOOK_SECRET_OVERLAP_MS (24 h);
   * `lookup` is the SSRF guard's resolver, injected by tests only (see ssrf.ts).
   */
  webhooks?: { allowPrivate: boolean; secretOverlapMs: number; lookup?: WebhookLookup | undefined };
  /** SPOOL_RATE_LIMIT_PER_MIN: requests per minute per API key, 0 = off. */
  rateLimitPerMin?: number;
}

export function buildApiDeps(o: ApiBuildOptions): ApiDeps & { close(): Promise<void> } {
  const log = o.log.child({ module: 'api' });
  const producer = openProducer({ ...o, types: o.registry.list, log });
  const { redis, queues, buffer, hub, webhooks, scheduler } = producer;
  const guard = createSubmitGuard({ db: o.db, budgets: o.budgets ?? { dailyUsd: 0, monthlyUsd: 0 }, models: o.models });
  const jobs = new JobService({
    db: o.db,
    queues,
    registry: o.registry,
    redis,
    buffer,
    log,
    webhooks,
    allowPrivateWebhooks: o.webhooks?.allowPrivate ?? false,
    webhookLookup: o.webhooks?.lookup,
    guard,
  });
  const schedules = new ScheduleService({
    db: o.db,
    registry: o.registry,
    scheduler,
    allowPrivateWebhooks: o.webhooks?.allowPrivate ?? false,
    guard,
    log,
  });
  return {
    db: o.db,
    redis,
    hub,
    buffer,
    jobs,
    schedules,
    queues,
    webhooks,
    keys: new KeyStore(o.db),
    rateLimit: createKeyRateLimiter(redis, o.prefix, o.rateLimitPerMin ?? 0),
    registry: o.registry,
    log,
    config: {
      adminToken: o.adminToken,
      bodyLimitBytes: o.bodyLimitBytes,
      sseBufferEvents: o.sseBufferEvents,
      sseHeartbeatMs: o.sseHeartbeatMs,
      allowPrivateWebhooks: o.webhooks?.allowPrivate ?? false,
      webhookSecretOverlapMs: o.webhooks?.secretOverlapMs ?? 86_400_000,
    },
    close: producer.close,
  };
}
