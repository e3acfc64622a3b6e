/**
 * The drain goal: N no-op jobs queued while their queue is paused, then drained, by the raw
 * BullMQ worker (to `completed` in Redis) and by Spool's worker (to `completed` in PostgreSQL),
 * in rounds interleaved like the HTTP goals (lib/rounds.ts). Both workers run throughout; each
 * is idle while the other drains.
 */
import { Queue } from 'bullmq';
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import { cpuMs } from '../lib/proc.ts';
import { type Paired, rounds } from '../lib/rounds.ts';
import { spoolClient, startSpoolWorker } from '../lib/spool.ts';
import { nowMs, sleep } from '../lib/stats.ts';
import { type DrainResult, measureRawDrain, startRawWorker } from './baselines.ts';
import { resetSpool, type SpoolSession, waitTerminal } from './spool.ts';

export async function runDrain(ctx: Ctx, session: SpoolSession): Promise<Paired<DrainResult>> {
  const { s } = ctx;
  const { config } = session;
  ctx.log(`drain of ${s.drainJobs} no-op jobs: raw worker ÷ Spool's worker, ${s.rounds} interleaved rounds`);
  const raw = await startRawWorker({ REDIS_URL: ctx.redis.url });
  session.worker ??= await startSpoolWorker(config);
  const worker = session.worker;
  const queue = new Queue(NOOP_JOB.type, { connection: ctx.redis.client, prefix: config.prefix });
  queue.on('error', () => {});
  const client = spoolClient(session.api.url, session.apiKey);
  await sleep(500); // the worker's first reconciler pass, off the clock
  try {
    return await rounds(s.rounds, {
      baseline: () => measureRawDrain(ctx, raw, false),
      spool: async () => {
        await queue.pause();
        await client.submitMany(NOOP_JOB, s.drainJobs);
        const cpuBefore = await cpuMs(worker.pid);
        const resumedAt = nowMs();
        await queue.resume();
        const lastFinished = await waitTerminal(ctx, s.drainJobs, 600_000);
        const result = {
          jobs: s.drainJobs,
          jobsPerSec: s.drainJobs / ((lastFinished - resumedAt) / 1000),
          workerCpuMsPerJob: ((await cpuMs(worker.pid)) - cpuBefore) / s.drainJobs,
        };
        await resetSpool(ctx, config.prefix);
        return result;
      },
      value: (r) => r.jobsPerSec,
      pool: [poolDrains, poolDrains],
    });
  } finally {
    await Promise.all([raw.stop(), queue.close()]);
  }
}

/** Drains as one: all jobs ÷ all seconds, CPU per job over all. */
function poolDrains(r: DrainResult[]): DrainResult {
  const jobs = r.reduce((sum, x) => sum + x.jobs, 0);
  const seconds = r.reduce((sum, x) => sum + x.jobs / x.jobsPerSec, 0);
  const cpu = r.reduce((sum, x) => sum + x.workerCpuMsPerJob * x.jobs, 0);
  return { jobs, jobsPerSec: jobs / seconds, workerCpuMsPerJob: cpu / jobs };
}
