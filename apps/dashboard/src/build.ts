/** Builds the dashboard's dependencies for a process of its own (main.ts). */
import type { Database } from '@spool/core/db';
import type { EventBuffer, EventHub } from '@spool/core/events';
import type { JobRegistry, JobService } from '@spool/core/jobs';
import type { Logger } from '@spool/core/logger';
import { openProducer } from '@spool/core/producer';
import { KeyStore } from '@spool/core/tenants';
import type { WebhookProducer } from '@spool/core/webhooks';
import type { Queue } from 'bullmq';
import type { DashboardDeps } from './app.ts';

export interface DashboardBuildOptions {
  db: Database;
  registry: JobRegistry;
  log: Logger;
  redisUrl: string;
  prefix: string;
  adminToken: string | undefined;
  basePath?: string;
  /**
   * The JobService class, passed in by main.ts: importing `@spool/core/jobs` here would create
   * every job's zod schemas when `@spool/dashboard` loads, before the API's zod-openapi
   * extension in a process that imports the dashboard first (tests, the one-process mode).
   */
  JobService: typeof JobService;
  sseBufferEvents?: number;
  sseHeartbeatMs?: number;
  /** See ApiBuildOptions.sseCheckMs. */
  sseCheckMs?: number;
}

export function buildDashboardDeps(o: DashboardBuildOptions): DashboardDeps & { close(): Promise<void> } {
  const log = o.log.child({ module: 'dashboard' });
  const producer = openProducer({ ...o, types: o.registry.list, log });
  const { redis, queues, webhooks, scheduler, buffer, hub } = producer;
  // Only cancel and retry are called here: no submit, so no submit guard or SSRF settings.
  const jobs = new o.JobService({
    db: o.db,
    queues,
    registry: o.registry,
    redis,
    buffer,
    webhooks,
    allowPrivateWebhooks: false,
    log,
  });
  return {
    db: o.db,
    queues: [...queues.all(), webhooks.queue, scheduler.queue],
    keys: new KeyStore(o.db),
    adminToken: o.adminToken,
    jobs,
    webhooks,
    log,
    ...(o.basePath !== undefined ? { basePath: o.basePath } : {}),
    events: {
      hub,
      buffer,
      maxBuffered: o.sseBufferEvents ?? 1_000,
      heartbeatMs: o.sseHeartbeatMs ?? 15_000,
    },
    close: producer.close,
  };
}

/** What the one-process mode already has: the API's dependencies (structurally, no import of @spool/api). */
export interface ApiDepsLike {
  db: Database;
  queues: { all(): Queue[] };
  webhooks: WebhookProducer;
  schedules: { queue: Queue };
  jobs: DashboardDeps['jobs'];
  keys: KeyStore;
  log: Logger;
  hub: EventHub;
  buffer: EventBuffer;
  config: { adminToken: string | undefined; sseBufferEvents: number; sseHeartbeatMs: number };
}

/** The dashboard on the API's own connections, mounted at `basePath` (the one-process mode: '/admin'). */
export function dashboardDepsFromApi(api: ApiDepsLike, basePath = '/admin'): DashboardDeps {
  return {
    db: api.db,
    queues: [...api.queues.all(), api.webhooks.queue, api.schedules.queue],
    keys: api.keys,
    adminToken: api.config.adminToken,
    jobs: api.jobs,
    webhooks: api.webhooks,
    log: api.log.child({ module: 'dashboard' }),
    basePath,
    events: { hub: api.hub, buffer: api.buffer, maxBuffered: api.config.sseBufferEvents, heartbeatMs: api.config.sseHeartbeatMs },
  };
}
