/** What the HTTP app needs, built once per process (see main.ts and the one-process mode). */
import type { Database } from '@spool/core/db';
import type { EventBuffer, EventHub } from '@spool/core/events';
import type { JobRegistry, JobService } from '@spool/core/jobs';
import type { Logger } from '@spool/core/logger';
import type { Queues } from '@spool/core/queue';
import type { Redis } from '@spool/core/redis';
import type { ScheduleService } from '@spool/core/schedules';
import type { KeyRateLimiter, KeyStore, Principal } from '@spool/core/tenants';
import type { WebhookProducer } from '@spool/core/webhooks';

export interface ApiDeps {
  db: Database;
  /** Producer connection: fails fast. */
  redis: Redis;
  hub: EventHub;
  buffer: EventBuffer;
  jobs: JobService;
  schedules: ScheduleService;
  queues: Queues;
  webhooks: WebhookProducer;
  keys: KeyStore;
  /** SPOOL_RATE_LIMIT_PER_MIN per API key; undefined when off. */
  rateLimit?: KeyRateLimiter | undefined;
  registry: JobRegistry;
  log: Logger;
  config: {
    adminToken: string | undefined;
    bodyLimitBytes: number;
    sseBufferEvents: number;
    sseHeartbeatMs: number;
    allowPrivateWebhooks: boolean;
    webhookSecretOverlapMs: number;
  };
}

export interface AppEnv {
  Variables: {
    principal: Principal | undefined;
    tenantId: string;
    keyId: string;
    requestId: string;
  };
}
