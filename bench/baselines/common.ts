/** What every raw baseline shares: the queue name, the job options, and IPC helpers. */
import type { JobsOptions } from 'bullmq';

export const RAW_QUEUE = 'raw';
export const RAW_PREFIX = 'rawbench';

/**
 * Raw BullMQ as one would run it in production: completed and failed jobs trimmed, as Spool
 * does (PostgreSQL keeps Spool's history; here nothing does).
 */
export const RAW_JOB_OPTIONS: JobsOptions = { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 5_000 } };

/**
 * The table of the naive durable baselines (DATABASE_URL set): a row per job, inserted before
 * the add and marked completed by the processor, one autocommitted statement per job.
 */
export const RAW_JOBS_TABLE = `CREATE TABLE IF NOT EXISTS raw_jobs (
  id text PRIMARY KEY, type text NOT NULL, input jsonb NOT NULL, status text NOT NULL DEFAULT 'queued',
  created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)`;

export function send(message: Record<string, unknown>): void {
  process.send?.(message);
}

export function onMessage(handler: (m: any) => void | Promise<void>): void {
  process.on('message', (m) => void handler(m));
}

/** Exits when the parent goes away (its IPC channel closes). */
process.on('disconnect', () => process.exit(0));
