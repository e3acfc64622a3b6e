/**
 * The raw engines, measured in the same run as Spool: redis-benchmark, a raw worker (pickup,
 * Redis commands per job with the minimal front door), and for context the naive durable
 * front door and worker (one autocommitted statement per job). The HTTP baselines and the raw
 * drain run in rounds interleaved with Spool's (scenarios/http.ts, drain.ts).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { RAW_JOB_OPTIONS, RAW_JOBS_TABLE, RAW_PREFIX, RAW_QUEUE } from '../baselines/common.ts';
import { type LoadResult, load } from '../lib/autocannon.ts';
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import { commandDelta, commandStats } from '../lib/infra.ts';
import { cpuMs, type NodeChild, startNode } from '../lib/proc.ts';
import { nowMs, type Summary, sleep, summarize } from '../lib/stats.ts';

const run = promisify(execFile);

export interface BaselineResults {
  redisSet: { noPipeline: number; pipeline16: number };
  pickupMs: Summary;
  redisCommandsPerJob: { perJob: number; byCommand: Record<string, number> };
  /** The same front door and worker writing a PostgreSQL row per job the obvious way. */
  durable: { frontDoor: LoadResult; drain: DrainResult };
}

export interface DrainResult {
  jobs: number;
  jobsPerSec: number;
  workerCpuMsPerJob: number;
}

async function redisBenchmark(ctx: Ctx, pipeline: number): Promise<number> {
  const { stdout } = await run('redis-benchmark', [
    '-h',
    '127.0.0.1',
    '-p',
    String(ctx.redis.port),
    '-t',
    'set',
    '-n',
    String(ctx.s.redisBenchRequests),
    '-c',
    '50',
    '-P',
    String(pipeline),
    '--csv',
  ]);
  const line = stdout
    .trim()
    .split('\n')
    .find((l) => l.startsWith('"SET"'));
  if (!line) throw new Error(`unexpected redis-benchmark output: ${stdout}`);
  return Number(JSON.parse(`[${line}]`)[1]);
}

export async function startServer(file: string, env: Record<string, string> = {}): Promise<{ child: NodeChild; url: string }> {
  const child = startNode(file, env);
  const { port } = await child.next<{ port: number }>('ready', 60_000);
  return { child, url: `http://127.0.0.1:${port}` };
}

export async function runBaselines(ctx: Ctx): Promise<BaselineResults> {
  const { s, redis } = ctx;
  const env = { REDIS_URL: redis.url };
  const queue = new Queue(RAW_QUEUE, { connection: redis.client, prefix: RAW_PREFIX });
  queue.on('error', () => {});
  const reset = () => queue.obliterate({ force: true });

  ctx.log('redis-benchmark SET');
  const noPipeline = await redisBenchmark(ctx, 1);
  const pipeline16 = await redisBenchmark(ctx, 16);
  await redis.client.flushall();

  const worker = await startRawWorker(env);

  ctx.log('raw add → process latency');
  const n = s.pickupRate * s.pickupSeconds;
  worker.send({ type: 'expect', n, recordStarts: true });
  const added: Record<string, number> = {};
  const adds: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    adds.push(
      queue.add(NOOP_JOB.type, NOOP_JOB.input, RAW_JOB_OPTIONS).then((job) => {
        added[job.id!] = nowMs();
      }),
    );
    await sleep(1000 / s.pickupRate);
  }
  await Promise.all(adds);
  await worker.next('done', 60_000);
  worker.send({ type: 'starts' });
  const { starts } = await worker.next<{ starts: Record<string, number> }>('starts');
  const pickupMs = summarize(Object.entries(added).map(([id, t]) => starts[id]! - t));
  await reset();

  ctx.log(`raw Redis commands per job (${s.costJobs} jobs: front door add + worker)`);
  const front = await startServer('bench/baselines/front-door.ts', env);
  worker.send({ type: 'expect', n: s.costJobs });
  const before = await commandStats(redis.client);
  await postMany(front.url, NOOP_JOB, s.costJobs, {});
  await worker.next('done', 120_000);
  await sleep(200);
  const delta = commandDelta(before, await commandStats(redis.client));

  await Promise.all([worker.stop(), front.child.stop()]);
  await reset();

  ctx.log('naive durable front door (+ one INSERT per job) and worker (+ one UPDATE per job)');
  await ctx.database.sql.unsafe(RAW_JOBS_TABLE);
  const durableEnv = { ...env, DATABASE_URL: ctx.database.url };
  const durableFront = await startServer('bench/baselines/front-door.ts', durableEnv);
  const durableFrontDoor = await load({
    url: durableFront.url,
    serverPid: durableFront.child.pid,
    method: 'POST',
    body: NOOP_JOB,
    connections: s.connections,
    seconds: s.httpSeconds,
    warmupSeconds: s.warmupSeconds,
  });
  await durableFront.child.stop();
  await reset();
  await ctx.database.sql`TRUNCATE raw_jobs`;
  const durableWorker = await startRawWorker(durableEnv);
  const durableDrain = await measureRawDrain(ctx, durableWorker, true);
  await durableWorker.stop();
  await ctx.database.sql`DROP TABLE raw_jobs`;
  await queue.close();
  return {
    redisSet: { noPipeline, pipeline16 },
    pickupMs,
    redisCommandsPerJob: { perJob: delta.total / s.costJobs, byCommand: perJob(delta.byCommand, s.costJobs) },
    durable: { frontDoor: durableFrontDoor, drain: durableDrain },
  };
}

/** The raw BullMQ worker at concurrency 50 (the naive durable one when `env` has DATABASE_URL), ready. */
export async function startRawWorker(env: Record<string, string>): Promise<NodeChild> {
  const worker = startNode('bench/baselines/raw-worker.ts', { ...env, CONCURRENCY: '50' });
  await worker.next('ready', 60_000);
  return worker;
}

/**
 * Queues `s.drainJobs` no-op jobs on the raw queue while it is paused (with their `raw_jobs`
 * rows when `rows`), then times `worker` draining them; the queue is emptied after.
 */
export async function measureRawDrain(ctx: Ctx, worker: NodeChild, rows: boolean): Promise<DrainResult> {
  const { s } = ctx;
  const queue = new Queue(RAW_QUEUE, { connection: ctx.redis.client, prefix: RAW_PREFIX });
  queue.on('error', () => {});
  try {
    await queue.pause();
    for (let i = 0; i < s.drainJobs; i += 1_000) {
      // Ids of our own only with rows: the raw drain keeps BullMQ's own ids, as it always did.
      const ids = Array.from({ length: Math.min(1_000, s.drainJobs - i) }, () => (rows ? randomUUID() : undefined));
      if (rows) {
        const values = ids.map((id) => ({ id, type: NOOP_JOB.type, input: NOOP_JOB.input }));
        await ctx.database.sql`INSERT INTO raw_jobs ${ctx.database.sql(values as never, 'id', 'type', 'input')}`;
      }
      await queue.addBulk(
        ids.map((jobId) => ({
          name: NOOP_JOB.type,
          data: NOOP_JOB.input,
          opts: jobId ? { ...RAW_JOB_OPTIONS, jobId } : RAW_JOB_OPTIONS,
        })),
      );
    }
    worker.send({ type: 'expect', n: s.drainJobs });
    const cpuBefore = await cpuMs(worker.pid);
    const resumedAt = nowMs();
    await queue.resume();
    const drained = await worker.next<{ lastCompleted: number }>('done', 300_000);
    return {
      jobs: s.drainJobs,
      jobsPerSec: s.drainJobs / ((drained.lastCompleted - resumedAt) / 1000),
      workerCpuMsPerJob: ((await cpuMs(worker.pid)) - cpuBefore) / s.drainJobs,
    };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/** POSTs `n` copies of `body`, 10 in flight: a light, closed-loop client for cost counting. */
export async function postMany(url: string, body: unknown, n: number, headers: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < n) {
        next++;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
        if (res.status !== 202) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
        ids.push(((await res.json()) as { id: string }).id);
      }
    }),
  );
  return ids;
}

export function perJob(byCommand: Record<string, number>, jobs: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(byCommand)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, Math.round((v / jobs) * 100) / 100]),
  );
}
