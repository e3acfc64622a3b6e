/**
 * What one job costs the stores: PostgreSQL statements (counted on the wire by a proxy in
 * front of each Spool process, filed by SQL kind) and Redis commands (INFO commandstats
 * deltas on the private Redis), for no-op jobs and for jobs with steps and progress.
 * Spool runs through its real entry points again, with DATABASE_URL pointed at the proxies.
 */
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import { commandDelta, commandStats } from '../lib/infra.ts';
import { type StatementCounter, startStatementCounter } from '../lib/pg-counter.ts';
import { type SpoolConfig, startApi, startSpoolWorker } from '../lib/spool.ts';
import { sleep } from '../lib/stats.ts';
import { perJob, postMany } from './baselines.ts';

export interface CostResults {
  jobs: number;
  statementsPerJob: { total: number; api: number; worker: number; byKind: Record<string, number> };
  redisCommandsPerJob: { perJob: number; byCommand: Record<string, number> };
  steps: {
    jobs: number;
    stepsPerJob: number;
    /** Statements per step beyond a no-op job's: the step's own checkpoints and its events. */
    statementsPerStep: number;
    progressEvents: number;
    /** Statements that wrote events in batches (progress, step), per progress event. */
    eventStatementsPerProgressEvent: number;
    byKind: Record<string, number>;
  };
}

const EVENT_BATCH_KIND = 'WITH x AS (SELECT x.job_id, x.seq, x.type, x.data FROM jsonb_to_recordset';

async function waitTerminal(ctx: Ctx, n: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const [row] = await ctx.database.sql<
      { done: number }[]
    >`SELECT count(*)::int AS done FROM jobs WHERE status IN ('completed', 'failed', 'canceled')`;
    if (row!.done >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${row!.done} of ${n} jobs finished`);
    await sleep(100);
  }
}

const merged = (a: StatementCounter, b: StatementCounter) => {
  const out: Record<string, number> = {};
  for (const c of [a, b]) for (const [k, v] of Object.entries(c.snapshot().byKind)) out[k] = (out[k] ?? 0) + v;
  return out;
};

export async function runCost(ctx: Ctx, base: SpoolConfig, apiKey: string): Promise<CostResults> {
  const { s, database, redis } = ctx;
  const target = new URL(database.url);
  const [apiCounter, workerCounter] = await Promise.all([startStatementCounter(target), startStatementCounter(target)]);
  const api = await startApi({ ...base, databaseUrl: apiCounter.through(database.url) });
  const worker = await startSpoolWorker({ ...base, databaseUrl: workerCounter.through(database.url) });
  const submitUrl = `${api.url}/v1/jobs`;
  const auth = { authorization: `Bearer ${apiKey}` };
  try {
    // Warm-up: connections opened, statements prepared, the key cached.
    const warm = 20;
    await postMany(submitUrl, NOOP_JOB, warm, auth);
    await waitTerminal(ctx, warm);
    await sleep(500);

    ctx.log(`Spool cost of ${s.costJobs} no-op jobs (statements on the wire, Redis commandstats)`);
    apiCounter.reset();
    workerCounter.reset();
    const before = await commandStats(redis.client);
    await postMany(submitUrl, NOOP_JOB, s.costJobs, auth);
    await waitTerminal(ctx, warm + s.costJobs);
    await sleep(300);
    const redisDelta = commandDelta(before, await commandStats(redis.client));
    const apiStatements = apiCounter.snapshot().total;
    const workerStatements = workerCounter.snapshot().total;
    const noop = (apiStatements + workerStatements) / s.costJobs;
    const noopKinds = perJob(merged(apiCounter, workerCounter), s.costJobs);

    const stepsPerJob = 10;
    ctx.log(`Spool cost of ${s.progressJobs} jobs of ${stepsPerJob} steps with progress`);
    apiCounter.reset();
    workerCounter.reset();
    await postMany(submitUrl, { type: 'debug-steps', input: { steps: stepsPerJob, stepMs: 5 } }, s.progressJobs, auth);
    await waitTerminal(ctx, warm + s.costJobs + s.progressJobs);
    await sleep(500);
    const kinds = merged(apiCounter, workerCounter);
    const total = apiCounter.snapshot().total + workerCounter.snapshot().total;
    const eventStatements = Object.entries(kinds)
      .filter(([k]) => k.replace(/\s+/g, ' ').startsWith(EVENT_BATCH_KIND.slice(0, 40)))
      .reduce((sum, [, v]) => sum + v, 0);
    const progressEvents = s.progressJobs * stepsPerJob;

    return {
      jobs: s.costJobs,
      statementsPerJob: {
        total: noop,
        api: apiStatements / s.costJobs,
        worker: workerStatements / s.costJobs,
        byKind: noopKinds,
      },
      redisCommandsPerJob: { perJob: redisDelta.total / s.costJobs, byCommand: perJob(redisDelta.byCommand, s.costJobs) },
      steps: {
        jobs: s.progressJobs,
        stepsPerJob,
        statementsPerStep: (total / s.progressJobs - noop) / stepsPerJob,
        progressEvents,
        eventStatementsPerProgressEvent: eventStatements / progressEvents,
        byKind: perJob(kinds, s.progressJobs),
      },
    };
  } finally {
    await Promise.all([worker.stop(), api.child.stop()]);
    await Promise.all([apiCounter.close(), workerCounter.close()]);
  }
}
