/**
 * `pnpm start`: API, worker and dashboard (under /admin) in one process, on embedded PGlite unless DATABASE_URL is set,
 * with the local provider. Prints the URLs, a dev API key and the admin token, which are kept
 * in the data dir across restarts.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiEnvSchema, apiOptions, buildApiDeps, closeServer, createApp, serveApi } from '@spool/api';
import { createDatabase, type Database, databaseOptions, migrate } from '@spool/core/db';
import { loadEnv } from '@spool/core/env';
import { createRegistry } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { checkEvictionPolicy, createRedis } from '@spool/core/redis';
import { onShutdown, SHUTDOWN_SLACK_MS, startFailed } from '@spool/core/shutdown';
import { createTenant, KeyStore } from '@spool/core/tenants';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { startWorker, WorkerEnvSchema, workerOptions } from '@spool/worker';
import { ensureRedis, withoutPassword } from './redis.ts';

interface DevCredentials {
  adminToken: string;
  tenantId: string;
  apiKey: string;
}

/** The dev tenant's key and the admin token, made once and kept in the data dir. */
async function devCredentials(db: Database, dataDir: string, adminToken: string | undefined): Promise<DevCredentials> {
  const file = join(dataDir, 'dev-credentials.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DevCredentials;
    if (await new KeyStore(db).authenticate(saved.apiKey)) return { ...saved, adminToken: adminToken ?? saved.adminToken };
  }
  const tenant = await createTenant(db, 'dev');
  const creds = {
    adminToken: adminToken ?? `adm_${randomBytes(24).toString('base64url')}`,
    tenantId: tenant.id,
    apiKey: tenant.apiKey,
  };
  writeFileSync(file, JSON.stringify(creds, null, 2), { mode: 0o600 });
  return creds;
}

async function main() {
  const env = loadEnv(ApiEnvSchema.merge(WorkerEnvSchema));
  const log = createLogger(env.LOG_LEVEL);
  mkdirSync(env.SPOOL_DATA_DIR, { recursive: true });

  const redis = await ensureRedis(env.REDIS_URL, env.SPOOL_DATA_DIR);
  if (redis.child) {
    log.warn(
      { url: redis.url, configured: withoutPassword(env.REDIS_URL) },
      'nothing answered at REDIS_URL: started redis-server (data under the data dir)',
    );
  }
  const probe = createRedis(redis.url, 'worker');
  await checkEvictionPolicy(probe, (msg) => log.warn(msg));
  await probe.quit();

  const db = await createDatabase(databaseOptions(env));
  await migrate(db);
  const creds = await devCredentials(db, env.SPOOL_DATA_DIR, env.SPOOL_ADMIN_TOKEN);
  const registry = createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS });

  const worker = await startWorker({ db, registry, log }, workerOptions(env, redis.url));
  const deps = buildApiDeps(apiOptions(env, { db, registry, log, redisUrl: redis.url, adminToken: creds.adminToken }));
  const app = createApp(deps);
  // The operators' dashboard (Bull Board and the job explorer) under /admin, on the API's connections.
  app.route('/admin', createDashboard(dashboardDepsFromApi(deps, '/admin')));
  const server = serveApi(app.fetch, { port: env.PORT, hostname: env.HOST });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });

  const base = `http://localhost:${env.PORT}`;
  console.log(`
Spool is running (API and worker in one process).
  API        ${base}
  API docs   ${base}/docs      OpenAPI: ${base}/openapi.json
  Metrics    ${base}/metrics
  Dashboard  ${base}/admin       Bull Board: ${base}/admin/queues   (admin token as the Basic password)
  Storage    ${env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${join(env.SPOOL_DATA_DIR, 'pg')}`}
  Redis      ${redis.url}${redis.child ? ' (started by Spool)' : ''}

  Dev API key   ${creds.apiKey}
  Admin token   ${creds.adminToken}
  (kept in ${join(env.SPOOL_DATA_DIR, 'dev-credentials.json')})

Try it:
  curl -s -X POST ${base}/v1/jobs -H "authorization: Bearer ${creds.apiKey}" \\
    -H 'content-type: application/json' -d '{"type":"debug-steps","input":{"steps":5,"stepMs":500}}'
`);

  const grace = env.SPOOL_SHUTDOWN_GRACE_MS;
  onShutdown(
    log,
    'shutting down: finishing running jobs',
    [
      // The two share one grace period: the API answers what is under way while jobs finish.
      () => Promise.all([closeServer(server, grace), worker.close(grace)]),
      () => deps.close(),
      () => db.close(),
      () => redis.child?.kill('SIGTERM'),
    ],
    grace + SHUTDOWN_SLACK_MS,
  );
}

main().catch(startFailed('Spool'));
