/** `pnpm --filter @spool/worker start`: a worker process for a multi-process deployment. */
import { createServer } from 'node:http';
import { createDatabase, databaseOptions, migrate } from '@spool/core/db';
import { createRegistry } from '@spool/core/jobs';
import { createLogger } from '@spool/core/logger';
import { registry as metrics } from '@spool/core/metrics';
import { checkEvictionPolicy, createRedis } from '@spool/core/redis';
import { onShutdown } from '@spool/core/shutdown';
import { loadWorkerEnv, workerOptions } from './env.ts';
import { startWorker } from './worker.ts';

const env = loadWorkerEnv();
const log = createLogger(env.LOG_LEVEL);
const db = await createDatabase(databaseOptions(env));
await migrate(db);
const probe = createRedis(env.REDIS_URL, 'worker');
await checkEvictionPolicy(probe, (msg) => log.warn(msg));
await probe.quit();

const worker = await startWorker(
  { db, registry: createRegistry({ enableDebugJobs: env.SPOOL_ENABLE_DEBUG_JOBS }), log },
  workerOptions(env),
);

const server =
  env.WORKER_METRICS_PORT > 0
    ? createServer(async (req, res) => {
        if (req.url === '/metrics') {
          res.setHeader('content-type', metrics.contentType);
          res.end(await metrics.metrics());
        } else if (req.url === '/healthz') res.end('ok');
        else res.writeHead(404).end();
      }).listen(env.WORKER_METRICS_PORT)
    : undefined;

onShutdown(log, 'shutting down: finishing running jobs', [
  () => worker.close(),
  () => server?.close(),
  () => db.close(),
  () => log.info('worker stopped'),
]);
