/** SQL for job events: the batched insert of worker events, and replay. */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { idArray } from '../db/params.ts';
import type { JobEvent } from '../events/types.ts';

export interface PendingEvent {
  jobId: string;
  event: JobEvent;
  /**
   * The attempt that made the event, when nothing else fenced it: Redis refused it no entry
   * (unreachable), so it is written only while that attempt still holds the job.
   */
  attempt?: number | undefined;
}

/** Rows for `jsonb_to_recordset`: one JSON parameter carries a whole batch. */
export const eventRowsJson = (items: PendingEvent[]) =>
  JSON.stringify(
    items.map(({ jobId, event, attempt }) => ({
      job_id: jobId,
      seq: event.seq,
      type: event.type,
      data: event.data,
      attempt: attempt ?? null,
    })),
  );

/** `SELECT …` of event rows from a JSON parameter, for use inside INSERT statements. */
export const eventRecordset = (json: string) =>
  sql`SELECT x.job_id, x.seq, x.type, x.data FROM jsonb_to_recordset(${json}::jsonb) AS x(job_id text, seq int, type text, data jsonb)`;

/**
 * Writes a batch of events of many jobs in one statement, and moves each job's `last_seq`
 * and `progress` forward, so polling sees progress without a write per progress call. Only
 * forward: a batch that commits after a later write of its job (the attempt's closing write,
 * which sets the final progress) leaves that job's progress alone.
 *
 * An event with an `attempt` is dropped once another attempt has the job. A worker cut off
 * from Redis (not from PostgreSQL) loses its BullMQ lock and the job to another worker, and
 * went on writing its events here, numbered by its own count: they took the new attempt's seqs
 * (its terminal event was the one dropped) and moved `progress` past the end.
 */
export async function flushEvents(db: Database, items: PendingEvent[]): Promise<void> {
  const json = eventRowsJson(items);
  await db.query(sql`
    WITH x AS (
      SELECT x.job_id, x.seq, x.type, x.data
      FROM jsonb_to_recordset(${json}::jsonb) AS x(job_id text, seq int, type text, data jsonb, attempt int)
      WHERE x.attempt IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = x.job_id AND j.attempts = x.attempt)
    ),
    ins AS (
      INSERT INTO job_events (job_id, seq, type, data) SELECT job_id, seq, type, data FROM x
      ON CONFLICT DO NOTHING
    ),
    latest AS (SELECT job_id, max(seq) AS seq FROM x GROUP BY job_id),
    prog AS (SELECT DISTINCT ON (job_id) job_id, seq, data FROM x WHERE type = 'progress' ORDER BY job_id, seq DESC)
    UPDATE jobs j SET last_seq = GREATEST(j.last_seq, l.seq),
      progress = CASE WHEN p.seq > j.last_seq THEN p.data ELSE j.progress END
    FROM latest l LEFT JOIN prog p ON p.job_id = l.job_id
    WHERE j.id = l.job_id AND j.id = ANY(${idArray([...new Set(items.map((i) => i.jobId))])})`);
}

export async function eventsAfter(db: Database, jobId: string, afterSeq: number): Promise<JobEvent[]> {
  return db.query<JobEvent>(
    sql`SELECT seq, type, data FROM job_events WHERE job_id = ${jobId} AND seq > ${afterSeq} ORDER BY seq`,
  );
}

/** The stored `last_seq` of each of these jobs, in one statement (the SSE hub's check). */
export async function storedSeqs(db: Database, jobIds: string[]): Promise<Map<string, number>> {
  const rows = await db.query<{ id: string; last_seq: number }>(
    sql`SELECT id, last_seq FROM jobs WHERE id = ANY(${idArray(jobIds)})`,
  );
  return new Map(rows.map((r) => [r.id, r.last_seq]));
}
