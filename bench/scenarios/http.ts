/**
 * The three HTTP goals — `GET /healthz`, `POST /v1/jobs`, `POST /v1/jobs/batch` — each in
 * rounds interleaved with its baseline (lib/rounds.ts).
 */
import { Queue } from 'bullmq';
import { RAW_PREFIX, RAW_QUEUE } from '../baselines/common.ts';
import { type LoadOptions, type LoadResult, load } from '../lib/autocannon.ts';
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import { startNode } from '../lib/proc.ts';
import { type Paired, rounds } from '../lib/rounds.ts';
import { startServer } from './baselines.ts';
import { resetSpool, type SpoolSession } from './spool.ts';

type Jobs = { jobsPerSec: number };

export interface HttpResults {
  rounds: number;
  healthz: Paired<LoadResult>;
  submit: Paired<LoadResult>;
  /** Spool: requests of 100 jobs (jobsPerSec = rps × 100); baseline: raw addBulk of 100. */
  batch: Paired<Jobs & { seconds: number }, LoadResult & Jobs>;
}

export async function runHttp(ctx: Ctx, session: SpoolSession): Promise<HttpResults> {
  const { s, redis } = ctx;
  const { api, config } = session;
  const env = { REDIS_URL: redis.url };
  const rawQueue = new Queue(RAW_QUEUE, { connection: redis.client, prefix: RAW_PREFIX });
  rawQueue.on('error', () => {});
  const auth = { authorization: `Bearer ${session.apiKey}` };
  const hello = await startServer('bench/baselines/hello.ts');
  const front = await startServer('bench/baselines/front-door.ts', env);
  try {
    /** Autocannon at the run's settings; the warm-up only in the first round (the servers stay up). */
    const loadRound = (round: number, o: Omit<LoadOptions, 'seconds'>) =>
      load({ ...o, seconds: s.httpSeconds, warmupSeconds: round === 0 ? s.warmupSeconds : 0 });

    ctx.log(`GET /healthz ÷ raw node:http hello-world, ${s.rounds} interleaved rounds`);
    const healthz = await rounds(s.rounds, {
      baseline: (i) => loadRound(i, { url: hello.url, serverPid: hello.child.pid, connections: s.connections }),
      spool: (i) => loadRound(i, { url: `${api.url}/healthz`, serverPid: api.child.pid, connections: s.connections }),
      value: (r) => r.rps,
      pool: [pool, pool],
    });

    ctx.log(`POST /v1/jobs ÷ the minimal front door (node:http + one BullMQ add), ${s.rounds} interleaved rounds`);
    const submit = await rounds(s.rounds, {
      baseline: async (i) => {
        const r = await loadRound(i, {
          url: front.url,
          serverPid: front.child.pid,
          method: 'POST',
          body: NOOP_JOB,
          connections: s.connections,
        });
        await rawQueue.obliterate({ force: true });
        return r;
      },
      spool: async (i) => {
        const r = await loadRound(i, {
          url: `${api.url}/v1/jobs`,
          serverPid: api.child.pid,
          method: 'POST',
          headers: auth,
          body: NOOP_JOB,
          connections: s.connections,
        });
        await resetSpool(ctx, config.prefix);
        return r;
      },
      value: (r) => r.rps,
      pool: [pool, pool],
    });

    ctx.log(`POST /v1/jobs/batch of 100 ÷ raw addBulk of 100, ${s.rounds} interleaved rounds`);
    const batch = await rounds(s.rounds, {
      // A fresh process each round, so each round warms it up.
      baseline: async () => {
        const bulk = startNode('bench/baselines/add-bulk.ts', {
          ...env,
          CONCURRENCY: String(s.batchConnections),
          SECONDS: String(s.httpSeconds),
          WARMUP: String(s.warmupSeconds),
        });
        const r = await bulk.next<Jobs & { seconds: number }>('result', (s.httpSeconds + s.warmupSeconds) * 1000 + 60_000);
        await bulk.stop();
        await rawQueue.obliterate({ force: true });
        return r;
      },
      spool: async (i) => {
        const r = await loadRound(i, {
          url: `${api.url}/v1/jobs/batch`,
          serverPid: api.child.pid,
          method: 'POST',
          headers: auth,
          body: { jobs: Array.from({ length: 100 }, () => NOOP_JOB) },
          connections: s.batchConnections,
        });
        await resetSpool(ctx, config.prefix);
        return { ...r, jobsPerSec: r.rps * 100 };
      },
      value: (r) => r.jobsPerSec,
      pool: [
        (r) => {
          const seconds = r.reduce((sum, x) => sum + x.seconds, 0);
          return { jobsPerSec: r.reduce((sum, x) => sum + x.jobsPerSec * x.seconds, 0) / seconds, seconds };
        },
        (r) => {
          const pooled = pool(r);
          return { ...pooled, jobsPerSec: pooled.rps * 100 };
        },
      ],
    });
    return { rounds: s.rounds, healthz, submit, batch };
  } finally {
    await Promise.all([hello.child.stop(), front.child.stop(), rawQueue.close()]);
  }
}

/** Load runs as one:  counts and seconds added, CPU per request over all, latencies the median round's. */
export function pool(r: LoadResult[]): LoadResult {
  const sum = (f: (x: LoadResult) => number) => r.reduce((acc, x) => acc + f(x), 0);
  const mid = (f: (x: LoadResult) => number) => r.map(f).sort((a, b) => a - b)[Math.floor((r.length - 1) / 2)]!;
  const ok = sum((x) => x.ok);
  const seconds = sum((x) => x.seconds);
  const cpu = r.every((x) => x.serverCpuMsPerRequest !== undefined)
    ? sum((x) => x.serverCpuMsPerRequest! * x.ok) / ok
    : undefined;
  return {
    rps: ok / seconds,
    ok,
    non2xx: sum((x) => x.non2xx),
    errors: sum((x) => x.errors),
    timeouts: sum((x) => x.timeouts),
    latencyMs: {
      p50: mid((x) => x.latencyMs.p50),
      p99: mid((x) => x.latencyMs.p99),
      avg: sum((x) => x.latencyMs.avg * x.ok) / ok,
    },
    seconds,
    ...(cpu === undefined ? {} : { serverCpuMsPerRequest: cpu }),
  };
}
