import { randomBytes } from 'node:crypto';
import { load } from './lib/autocannon.ts';
import { freshDatabase, privateRedis } from './lib/infra.ts';
import { profileInto } from './lib/proc.ts';
import { createTenant, startApi } from './lib/spool.ts';

if (process.env.PROF) profileInto(process.env.PROF);
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
const path = process.env.ROUTE ?? '/v1/jobs';
const r = await load({
  url: `${api.url}${path}`,
  method: path === '/healthz' ? 'GET' : 'POST',
  headers: { authorization: `Bearer ${key}` },
  body: path === '/healthz' ? undefined : { type: 'debug-steps', input: { steps: 0 } },
  connections: 50,
  seconds: Number(process.env.SECS ?? 6),
  warmupSeconds: 1,
});
console.log(path, 'cpu ms', r.serverCpuMsPerRequest?.toFixed(3), r.rps.toFixed(0), 'req/s p50', r.latencyMs.p50, 'p99', r.latencyMs.p99, 'non2xx', r.non2xx);
await api.child.stop();
await redis.client.quit();
await redis.server.stop();
await database.drop();
process.exit(0);
