/** What the HTTP app needs, built once per process (see main.ts and the one-process mode). */
import type { Database } from '@spool/core/db';
import type { EventBuffer, EventHub } from '@spool/core/events';
import type { JobRegistry, JobService } from '@spool/core/jobs';
import type { Logger } from '@spool/core/logger';
import type { Queues } from '@spool/core/queue';
import type { Redis } from '@spool/core/redis';
import type { KeyStore } from '@spool/core/tenants';
import type { WebhookProducer } from '@spool/core/webhooks';

export interface ApiDeps {
  db: Database;
  /** Producer connection: fails fast. */
  redis: Redis;
  hub: EventHub;
  buffer: EventBuffer;
  jobs: JobService;
  queues: Queues;
  webhooks: WebhookProducer;
  keys: KeyStore;
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
    tenantId: string;
    keyId: string;
    requestId: string;
  };
}
