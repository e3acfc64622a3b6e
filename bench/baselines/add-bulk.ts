/**
 * Baseline: raw BullMQ addBulk of 100 jobs, `CONCURRENCY` calls in flight, for `SECONDS`
 * (after `WARMUP` unrecorded seconds). Reports jobs/s. Spool's POST /v1/jobs/batch of 100
 * is compared with this.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { nowMs } from '../lib/stats.ts';
import { RAW_JOB_OPTIONS, RAW_PREFIX, RAW_QUEUE, send } from './common.ts';

const BATCH = 100;
const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
const queue = new Queue(RAW_QUEUE, { connection, prefix: RAW_PREFIX });
queue.on('error', () => {});
const input = JSON.parse(process.env.INPUT ?? '{"steps":0}');
const jobs = Array.from({ length: BATCH }, () => ({ name: 'debug-steps', data: input, opts: RAW_JOB_OPTIONS }));

async function run(seconds: number): Promise<{ jobs: number; seconds: number }> {
  const start = nowMs();
  const until = start + seconds * 1000;
  let added = 0;
  await Promise.all(
    Array.from({ length: Number(process.env.CONCURRENCY ?? 8) }, async () => {
      while (nowMs() < until) {
        await queue.addBulk(jobs);
        added += BATCH;
      }
    }),
  );
  return { jobs: added, seconds: (nowMs() - start) / 1000 };
}

await run(Number(process.env.WARMUP ?? 1));
const r = await run(Number(process.env.SECONDS ?? 5));
send({ type: 'result', jobsPerSec: r.jobs / r.seconds, ...r });
await queue.close();
await connection.quit();
process.exit(0);
