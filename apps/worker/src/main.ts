/** `pnpm --filter @spool/worker start`: a worker process for a multi-process deployment. */

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createDatabase, databaseOptions, migrate } from '@spool/core/db';
import { createRegistry } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { registry as metrics } from '@spool/core/metrics';
import { checkEvictionPolicy, createRedis } from '@spool/core/redis';
import { onShutdown, SHUTDOWN_SLACK_MS, startFailed } from '@spool/core/shutdown';
import { loadWorkerEnv, workerOptions } from './env.ts';
import { startWorker } from './worker.ts';

async function main() {
  const env = loadWorkerEnv();
  const log = createLogger(env.LOG_LEVEL);
  // Listening first: a port in use stops the process before it takes any job.
  const server = env.WORKER_METRICS_PORT > 0 ? await serveMetrics(env.WORKER_METRICS_PORT) : undefined;
  const db = await createDatabase(databaseOptions(env));
  await migrate(db);
  const probe = createRedis(env.REDIS_URL, 'worker');
  // Until Redis answers, its errors are the reconnects the worker's own connections log.
  probe.on('error', () => {});
  await checkEvictionPolicy(probe, (msg) => log.warn(msg));
  await probe.quit();

  const worker = await startWorker(
    { db, registry: createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS }), log },
    workerOptions(env),
  );
  const grace = env.SPOOL_SHUTDOWN_GRACE_MS;
  onShutdown(
    log,
    'shutting down: finishing running jobs',
    [() => worker.close(grace), () => server?.close(), () => db.close(), () => log.info('worker stopped')],
    grace + SHUTDOWN_SLACK_MS,
  );
}

async function serveMetrics(port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    // The path alone: a scraper may add a query (`/metrics?x=1`), which the API also ignores.
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics') {
      res.setHeader('content-type', metrics.contentType);
      res.end(await metrics.metrics());
    } else if (path === '/healthz') res.end('ok');
    else res.writeHead(404).end();
  }).listen(port);
  await once(server, 'listening');
  return server;
}

main().catch(startFailed('The Spool worker'));
