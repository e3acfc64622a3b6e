/**
 * The worker's SQL. A worker claims a job by bumping `attempts`; that number is its fencing
 * token, and every later write is conditional on it (`AND attempts = $attempt AND status =
 * 'running'`), so a worker that lost its lock cannot overwrite the one that took over.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import type { JobError } from '../errors.ts';
import { eventRecordset, eventRowsJson } from './events.ts';
import { outboxInsert } from './webhooks.ts';
import type { JobEvent } from '../events/types.ts';

export interface Claim {
  id: string;
  tenant_id: string;
  type: string;
  input: unknown;
  attempts: number;
  last_seq: number;
  // Raw SQL through drizzle's postgres.js driver returns timestamps as text.
  cancel_requested_at: string | Date | null;
  queued_at: string | Date;
  webhook_url: string | null;
  /** Outputs of the steps completed by earlier attempts. */
  done_steps: { name: string; output: unknown }[];
}

/**
 * Marks the job running (attempt + 1) and records the `status: running` event, in one
 * statement. `seqFloor` is the highest seq already published (it may be ahead of PostgreSQL
 * when a worker died before its events were batched). Returns undefined when the job is no
 * longer runnable (canceled, already finished).
 */
export async function claimJob(db: Database, jobId: string, seqFloor: number): Promise<Claim | undefined> {
  const rows = await db.query<Claim>(sql`
    WITH claimed AS (
      UPDATE jobs SET status = 'running', attempts = attempts + 1,
        started_at = COALESCE(started_at, now()), last_seq = GREATEST(last_seq, ${seqFloor}) + 1
      WHERE id = ${jobId} AND status IN ('queued', 'running')
      RETURNING id, tenant_id, type, input, attempts, last_seq, cancel_requested_at, queued_at, webhook_url
    ),
    ev AS (
      INSERT INTO job_events (job_id, seq, type, data)
      SELECT id, last_seq, 'status', jsonb_build_object('status', 'running', 'attempt', attempts) FROM claimed
    )
    SELECT c.*, COALESCE((
      SELECT jsonb_agg(jsonb_build_object('name', s.name, 'output', s.output))
      FROM job_steps s WHERE s.job_id = c.id AND s.status = 'completed'
    ), '[]'::jsonb) AS done_steps
    FROM claimed c`);
  return rows[0];
}

export interface StepStart {
  leased: boolean;
  cancel_requested: boolean | null;
  runs: number | null;
}

/** Records a step start (`runs + 1`) if this worker still holds the job; reports cancellation. */
export async function startStep(db: Database, jobId: string, attempt: number, name: string): Promise<StepStart> {
  const rows = await db.query<StepStart>(sql`
    WITH j AS (
      SELECT cancel_requested_at FROM jobs WHERE id = ${jobId} AND attempts = ${attempt} AND status = 'running'
    ),
    s AS (
      INSERT INTO job_steps (job_id, name, status, runs, position)
      SELECT ${jobId}, ${name}, 'running', 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM j
      ON CONFLICT (job_id, name) DO UPDATE
        SET status = 'running', runs = job_steps.runs + 1, started_at = now(), finished_at = NULL, error = NULL
      RETURNING runs
    )
    SELECT EXISTS (SELECT 1 FROM j) AS leased, (SELECT cancel_requested_at IS NOT NULL FROM j) AS cancel_requested,
      (SELECT runs FROM s) AS runs`);
  return rows[0]!;
}

/** Stores a step's output (or error). Returns false if this worker no longer holds the job. */
export async function finishStep(
  db: Database,
  jobId: string,
  attempt: number,
  name: string,
  outcome: { output: unknown } | { error: JobError },
): Promise<boolean> {
  const ok = 'output' in outcome;
  const rows = await db.query(sql`
    UPDATE job_steps SET status = ${ok ? 'completed' : 'failed'},
      output = ${ok ? JSON.stringify(outcome.output ?? null) : null}::jsonb,
      error = ${ok ? null : JSON.stringify(outcome.error)}::jsonb, finished_at = now()
    WHERE job_id = ${jobId} AND name = ${name}
      AND EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId} AND attempts = ${attempt} AND status = 'running')
    RETURNING 1`);
  return rows.length > 0;
}

export interface AttemptEnd {
  jobId: string;
  attempt: number;
  /** `queued` when the attempt failed and BullMQ will retry. */
  status: 'completed' | 'failed' | 'canceled' | 'queued';
  result?: unknown;
  error?: JobError | null;
  /** Events of this job not yet in PostgreSQL, the closing event last. */
  events: JobEvent[];
}

/**
 * Ends an attempt: status, result or error, the job's pending events and (for a terminal
 * status with a webhook) the outbox row, committed in one statement, fenced on the attempt.
 * `ok` is false if another worker has taken the job over.
 */
export async function endAttempt(db: Database, end: AttemptEnd): Promise<{ ok: boolean; deliveries: string[] }> {
  const last = end.events.at(-1);
  if (!last) throw new Error('endAttempt needs the closing event');
  const terminal = end.status !== 'queued';
  const progress = end.events.findLast((e) => e.type === 'progress')?.data;
  const json = eventRowsJson(end.events.map((event) => ({ jobId: end.jobId, event })));
  const rows = await db.query<{ id: string; deliveries: string[] }>(sql`
    WITH upd AS (
      UPDATE jobs SET status = ${end.status},
        result = ${end.result === undefined ? null : JSON.stringify(end.result)}::jsonb,
        error = ${end.error ? JSON.stringify(end.error) : null}::jsonb,
        finished_at = ${terminal ? sql`now()` : sql`NULL`},
        queued_at = ${terminal ? sql`queued_at` : sql`now()`},
        last_seq = GREATEST(last_seq, ${last.seq}),
        progress = COALESCE(${progress ? JSON.stringify(progress) : null}::jsonb, progress)
      WHERE id = ${end.jobId} AND attempts = ${end.attempt} AND status = 'running'
      RETURNING *
    ),
    ev AS (
      INSERT INTO job_events (job_id, seq, type, data)
      SELECT e.job_id, e.seq, e.type, e.data FROM (${eventRecordset(json)}) e
      WHERE EXISTS (SELECT 1 FROM upd)
      ON CONFLICT DO NOTHING
    ),
    wh AS (${outboxInsert})
    SELECT u.id, COALESCE((SELECT jsonb_agg(id) FROM wh), '[]'::jsonb) AS deliveries FROM upd u`);
  return { ok: rows.length > 0, deliveries: rows[0]?.deliveries ?? [] };
}
