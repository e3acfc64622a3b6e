/**
 * Spool's latency scenarios, against the API and a worker in processes of their own: pickup
 * and step checkpoints (the throughput goals are in http.ts and drain.ts).
 */
import { Queue } from 'bullmq';
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import type { NodeChild } from '../lib/proc.ts';
import { type SpoolApi, type SpoolConfig, spoolClient, startSpoolWorker } from '../lib/spool.ts';
import { median, nowMs, type Summary, sleep, summarize } from '../lib/stats.ts';

export interface SpoolResults {
  pickupMs: Summary;
  /** created_at → started_at, for reference (includes the API's own work before the 202). */
  createdToStartMs: Summary;
  steps: { jobs: number; perStepMs: number; medianGapMs: number; p99GapMs: number };
}

export interface SpoolSession {
  api: SpoolApi;
  apiKey: string;
  config: SpoolConfig;
  worker?: NodeChild;
}

/** Empties Spool's tables and its queue between scenarios, so each starts from the same state. */
export async function resetSpool(ctx: Ctx, prefix: string): Promise<void> {
  await ctx.database.sql`TRUNCATE jobs CASCADE`;
  const queue = new Queue(NOOP_JOB.type, { connection: ctx.redis.client, prefix });
  queue.on('error', () => {});
  await queue.obliterate({ force: true });
  await queue.close();
}

/** Polls PostgreSQL until `n` jobs are terminal; returns when the last one finished (ms). */
export async function waitTerminal(ctx: Ctx, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await ctx.database.sql<{ done: number; last: number | null }[]>`
      SELECT count(*)::int AS done, (extract(epoch FROM max(finished_at)) * 1000)::float8 AS last
      FROM jobs WHERE status IN ('completed', 'failed', 'canceled')`;
    if (row!.done >= n) return row!.last!;
    if (Date.now() > deadline) throw new Error(`only ${row!.done} of ${n} jobs finished within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function runSpool(ctx: Ctx, session: SpoolSession): Promise<SpoolResults> {
  const { s } = ctx;
  const { api, config } = session;
  const client = spoolClient(api.url, session.apiKey);

  session.worker ??= await startSpoolWorker(config);

  ctx.log('Spool pickup latency (202 → handler start)');
  const n = s.pickupRate * s.pickupSeconds;
  const accepted = new Map<string, number>();
  const posts: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    posts.push(
      client.submit(NOOP_JOB).then((job) => {
        accepted.set(job.id, nowMs());
      }),
    );
    await sleep(1000 / s.pickupRate);
  }
  await Promise.all(posts);
  await waitTerminal(ctx, n, 60_000);
  const rows = await ctx.database.sql<{ id: string; started: number; created: number }[]>`
    SELECT id, (extract(epoch FROM started_at) * 1000)::float8 AS started, (extract(epoch FROM created_at) * 1000)::float8 AS created
    FROM jobs`;
  const pickupMs = summarize(rows.filter((r) => accepted.has(r.id)).map((r) => r.started - accepted.get(r.id)!));
  const createdToStartMs = summarize(rows.map((r) => r.started - r.created));
  await resetSpool(ctx, config.prefix);

  ctx.log(`Spool step checkpoints (${s.stepJobs} jobs of 100 steps, one at a time)`);
  const perStep: number[] = [];
  const gaps: number[] = [];
  for (let i = 0; i < s.stepJobs; i++) {
    const { id } = await client.submit({ type: 'debug-steps', input: { steps: 100, stepMs: 0 } });
    await waitTerminal(ctx, i + 1, 60_000);
    const [job] = await ctx.database.sql<{ ms: number }[]>`
      SELECT (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS ms FROM jobs WHERE id = ${id}`;
    perStep.push(job!.ms / 100);
    const steps = await ctx.database.sql<{ t: number }[]>`
      SELECT (extract(epoch FROM started_at) * 1000)::float8 AS t FROM job_steps WHERE job_id = ${id} ORDER BY position`;
    for (let k = 1; k < steps.length; k++) gaps.push(steps[k]!.t - steps[k - 1]!.t);
  }
  const gapSummary = summarize(gaps);
  const steps = { jobs: s.stepJobs, perStepMs: median(perStep), medianGapMs: gapSummary.p50, p99GapMs: gapSummary.p99 };
  await resetSpool(ctx, config.prefix);

  return { pickupMs, createdToStartMs, steps };
}
