/** `pnpm --filter @spool/dashboard start`: the dashboard alone, on DASHBOARD_PORT (3001). */
import { serve } from '@hono/node-server';
import { createDatabase, databaseOptions, migrate } from '@spool/core/db';
import { apiEnv, baseEnv, dashboardEnv, databaseEnv, jobsEnv, loadEnv, redisEnv } from '@spool/core/env';
import { createRegistry, JobService } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { onShutdown, startFailed } from '@spool/core/shutdown';
import { createDashboard } from './app.ts';
import { buildDashboardDeps } from './build.ts';

const DashboardEnvSchema = baseEnv
  .merge(databaseEnv)
  .merge(redisEnv)
  .merge(jobsEnv)
  .merge(apiEnv.pick({ HOST: true, SPOOL_ADMIN_TOKEN: true, SPOOL_SSE_BUFFER_EVENTS: true, SPOOL_SSE_HEARTBEAT_MS: true }))
  .merge(dashboardEnv);

async function main() {
  const env = loadEnv(DashboardEnvSchema);
  const log = createLogger(env.LOG_LEVEL);
  if (!env.SPOOL_ADMIN_TOKEN) log.warn('SPOOL_ADMIN_TOKEN is not set: every dashboard request will get 401');
  const db = await createDatabase(databaseOptions(env));
  await migrate(db); // safe to run twice, under a lock
  const deps = buildDashboardDeps({
    db,
    registry: createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS }),
    log,
    redisUrl: env.REDIS_URL,
    prefix: env.SPOOL_QUEUE_PREFIX,
    adminToken: env.SPOOL_ADMIN_TOKEN,
    JobService,
    sseBufferEvents: env.SPOOL_SSE_BUFFER_EVENTS,
    sseHeartbeatMs: env.SPOOL_SSE_HEARTBEAT_MS,
  });
  const server = serve({ fetch: createDashboard(deps).fetch, port: env.DASHBOARD_PORT, hostname: env.HOST }, (info) =>
    log.info({ port: info.port }, `Spool dashboard on http://localhost:${info.port} (Bull Board at /queues)`),
  );
  server.once('error', startFailed('The Spool dashboard'));

  onShutdown(log, 'shutting down', [() => server.close(), () => deps.close(), () => db.close()]);
}

main().catch(startFailed('The Spool dashboard'));
