/** `pnpm --filter @spool/api start`: the API alone, for a multi-process deployment. */
// First: @hono/zod-openapi extends zod's prototype, and the job schemas core creates on import
// must already have `.openapi()` when the OpenAPI document is built.
import '@hono/zod-openapi';
import { serve } from '@hono/node-server';
import { createDatabase, migrate } from '@spool/core/db';
import { createRegistry } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { onShutdown } from '@spool/core/shutdown';
import { createApp } from './app.ts';
import { buildApiDeps } from './build.ts';
import { loadApiEnv } from './env.ts';

const env = loadApiEnv();
const log = createLogger(env.LOG_LEVEL);
const db = await createDatabase({ url: env.DATABASE_URL, dataDir: env.SPOOL_DATA_DIR, poolSize: env.SPOOL_DB_POOL });
await migrate(db);
const deps = buildApiDeps({
  db,
  registry: createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS }),
  log,
  redisUrl: env.REDIS_URL,
  prefix: env.SPOOL_QUEUE_PREFIX,
  adminToken: env.SPOOL_ADMIN_TOKEN,
  bodyLimitBytes: env.SPOOL_BODY_LIMIT_BYTES,
  sseBufferEvents: env.SPOOL_SSE_BUFFER_EVENTS,
  sseHeartbeatMs: env.SPOOL_SSE_HEARTBEAT_MS,
  rateLimitPerMin: env.SPOOL_RATE_LIMIT_PER_MIN,
  webhooks: { allowPrivate: env.SPOOL_WEBHOOK_ALLOW_PRIVATE, secretOverlapMs: env.SPOOL_WEBHOOK_SECRET_OVERLAP_MS },
  budgets: { dailyUsd: env.SPOOL_TENANT_DAILY_BUDGET_USD, monthlyUsd: env.SPOOL_TENANT_MONTHLY_BUDGET_USD },
});
const server = serve({ fetch: createApp(deps).fetch, port: env.PORT, hostname: env.HOST }, (info) =>
  log.info({ port: info.port }, `Spool API listening on http://localhost:${info.port}`),
);

onShutdown(log, 'shutting down', [() => server.close(), () => deps.close(), () => db.close()]);
