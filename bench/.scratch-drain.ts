import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { freshDatabase, privateRedis } from './lib/infra.ts';
import { profileInto } from './lib/proc.ts';
import { createTenant, spoolClient, startApi, startSpoolWorker } from './lib/spool.ts';
import { nowMs, sleep } from './lib/stats.ts';

profileInto('/tmp/prof-drain');
const redis = await privateRedis();
const database = await freshDatabase();
const config = {
  databaseUrl: database.url,
  redisUrl: redis.url,
  prefix: 'sb',
  adminToken: `admin-${randomBytes(16).toString('hex')}`,
};
const api = await startApi(config);
const key = await createTenant(api.url, config.adminToken);
const client = spoolClient(api.url, key);
const N = Number(process.env.N ?? 3000);
const queue = new Queue('debug-steps', { connection: redis.client, prefix: 'sb' });
await queue.pause();
await client.submitMany({ type: 'debug-steps', input: { steps: 0 } }, N);
const worker = await startSpoolWorker(config);
await sleep(500);
const t0 = nowMs();
await queue.resume();
for (;;) {
  const [r] = await database.sql<
    { done: number; last: number }[]
  >`SELECT count(*)::int AS done, (extract(epoch FROM max(finished_at))*1000)::float8 AS last FROM jobs WHERE status='completed'`;
  if (r!.done >= N) {
    console.log('drain jobs/s', (N / ((r!.last - t0) / 1000)).toFixed(0));
    break;
  }
  await sleep(100);
}
await worker.stop();
await api.child.stop();
await queue.close();
await redis.client.quit();
await redis.server.stop();
await database.drop();
process.exit(0);
