import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freshDatabase, privateRedis } from './lib/infra.ts';
import { createTenant, startApi, startSpoolWorker } from './lib/spool.ts';
import { sleep } from './lib/stats.ts';
import { postMany } from './scenarios/baselines.ts';

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
const worker = await startSpoolWorker(config);
await postMany(`${api.url}/v1/jobs`, { type: 'debug-steps', input: { steps: 0 } }, 20, { authorization: `Bearer ${key}` });
await sleep(1000);
const mon = await new Redis(redis.url).monitor();
const counts = new Map<string, number>();
mon.on('monitor', (_t: string, args: string[], source: string) => {
  const k = `${source.startsWith('lua') ? 'lua ' : ''}${args[0]} ${(args[1] ?? '').replace(/[0-9a-f-]{20,}/g, 'ID').replace(/:\d+$/, ':N')}`;
  counts.set(k, (counts.get(k) ?? 0) + 1);
});
const N = 100;
await postMany(`${api.url}/v1/jobs`, { type: 'debug-steps', input: { steps: 0 } }, N, { authorization: `Bearer ${key}` });
await sleep(2000);
mon.disconnect();
console.log(
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 60)
    .map(([k, v]) => `${(v / N).toFixed(2).padStart(7)} ${k}`)
    .join('\n'),
);
await worker.stop();
await api.child.stop();
await redis.client.quit();
await redis.server.stop();
await database.drop();
process.exit(0);
