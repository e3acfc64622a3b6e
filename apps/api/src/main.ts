/** `pnpm --filter @spool/api start`: the API alone, for a multi-process deployment. */
// First: @hono/zod-openapi extends zod's prototype, and the job schemas core creates on import
// must already have `.openapi()` when the OpenAPI document is built.
import '@hono/zod-openapi';
import { createDatabase, databaseOptions, migrate } from '@spool/core/db';
import { createRegistry } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { onShutdown, SHUTDOWN_SLACK_MS, startFailed } from '@spool/core/shutdown';
import { createApp } from './app.ts';
import { buildApiDeps } from './build.ts';
import { apiOptions, loadApiEnv } from './env.ts';
import { closeServer, serveApi } from './serve.ts';

async function main() {
  const env = loadApiEnv();
  const log = createLogger(env.LOG_LEVEL);
  const db = await createDatabase(databaseOptions(env));
  await migrate(db);
  const deps = buildApiDeps(
    apiOptions(env, { db, registry: createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS }), log }),
  );
  const server = serveApi(createApp(deps).fetch, { port: env.PORT, hostname: env.HOST }, (info) =>
    log.info({ port: info.port }, `Spool API listening on http://localhost:${info.port}`),
  );
  server.once('error', startFailed('The Spool API'));
  const grace = env.SPOOL_SHUTDOWN_GRACE_MS;
  onShutdown(
    log,
    'shutting down: answering requests under way',
    [() => closeServer(server, grace), () => deps.close(), () => db.close()],
    grace + SHUTDOWN_SLACK_MS,
  );
}

main().catch(startFailed('The Spool API'));
