/**
 * Step checkpoints. One statement records a step's end and the next step's start together,
 * both fenced on the attempt like every other write of a worker (see lease.ts).
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { relaxedCommit } from '../db/relaxed-commit.ts';
import type { JobError } from '../errors.ts';

export type StepOutcome = { output: unknown } | { error: JobError };

export interface Checkpoint {
  /** False when this worker no longer holds the job: nothing was written. */
  leased: boolean;
  cancel_requested: boolean | null;
  /** The started step's `runs` (this run included), when a step was started. */
  runs: number | null;
}

export interface StepEnd {
  name: string;
  outcome: StepOutcome;
}

/**
 * A checkpoint commits without waiting for the WAL flush (db/relaxed-commit.ts): a round trip,
 * not a round trip and an fsync. Nothing is lost when a worker dies (PostgreSQL has the
 * commit). Only a crash of PostgreSQL itself can drop the last checkpoints, and then those
 * steps run again on the retry, as the steps of a worker that died do: steps are at-least-once
 * either way.
 *
 * Ends the steps in `finish` with their outputs or errors and/or starts step `start`
 * (`runs + 1`), in one round trip. Either part may be empty.
 */
export async function checkpoint(
  db: Database,
  jobId: string,
  attempt: number,
  finish: StepEnd[],
  start: string | undefined,
): Promise<Checkpoint> {
  const ends = JSON.stringify(
    finish.map((f) =>
      'output' in f.outcome
        ? { name: f.name, status: 'completed', output: f.outcome.output ?? null, error: null }
        : { name: f.name, status: 'failed', output: null, error: f.outcome.error },
    ),
  );
  const rows = await db.query<Checkpoint>(sql`
    WITH j AS (
      SELECT cancel_requested_at FROM jobs WHERE id = ${jobId} AND attempts = ${attempt} AND status = 'running'
    ),
    f AS (
      UPDATE job_steps s SET status = x.status, output = x.output, error = x.error, finished_at = now()
      FROM jsonb_to_recordset(${ends}::jsonb) AS x(name text, status text, output jsonb, error jsonb)
      WHERE s.job_id = ${jobId} AND s.name = x.name AND EXISTS (SELECT 1 FROM j)
    ),
    s AS (
      INSERT INTO job_steps (job_id, name, status, runs, position)
      SELECT ${jobId}, ${start ?? null}::text, 'running', 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
      -- Not after a cancel: the step would show a run (runs + 1) whose body never ran.
      FROM j WHERE ${start ?? null}::text IS NOT NULL AND j.cancel_requested_at IS NULL
      ON CONFLICT (job_id, name) DO UPDATE
        SET status = 'running', runs = job_steps.runs + 1, started_at = now(), finished_at = NULL, error = NULL
      RETURNING runs
    )
    SELECT EXISTS (SELECT 1 FROM j) AS leased, (SELECT cancel_requested_at IS NOT NULL FROM j) AS cancel_requested,
      (SELECT runs FROM s) AS runs ${relaxedCommit(db)}`);
  return rows[0]!;
}
