/**
 * Baseline: a raw BullMQ worker at concurrency 50 whose processor does nothing. Tells the
 * parent when it has completed `expect` jobs (and when), and, for pickup latency, when each
 * job's processor started.
 *
 * With DATABASE_URL set it is the naive durable worker: the processor marks the job's
 * `raw_jobs` row completed, one UPDATE (its own commit) per job.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { nowMs } from '../lib/stats.ts';
import { onMessage, RAW_PREFIX, RAW_QUEUE, send } from './common.ts';

const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
let expect = Number.POSITIVE_INFINITY;
let completed = 0;
let firstStart: number | undefined;
let starts: Record<string, number> | undefined;
const sql = process.env.DATABASE_URL ? postgres(process.env.DATABASE_URL, { max: 10 }) : undefined;

const worker = new Worker(
  RAW_QUEUE,
  async (job) => {
    const t = nowMs();
    firstStart ??= t;
    if (starts) starts[job.id!] = t;
    if (sql) await sql`UPDATE raw_jobs SET status = 'completed', finished_at = now() WHERE id = ${job.id!}`;
  },
  { connection, prefix: RAW_PREFIX, concurrency: Number(process.env.CONCURRENCY ?? 50) },
);
worker.on('error', () => {});
worker.on('completed', () => {
  completed++;
  if (completed === expect) send({ type: 'done', completed, firstStart, lastCompleted: nowMs() });
});

onMessage((m) => {
  if (m.type === 'expect') {
    expect = m.n;
    completed = 0;
    firstStart = undefined;
    starts = m.recordStarts ? {} : undefined;
  } else if (m.type === 'starts') {
    send({ type: 'starts', starts: starts ?? {} });
  }
});

await worker.waitUntilReady();
send({ type: 'ready' });
