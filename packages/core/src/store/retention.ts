/**
 * Retention (SPOOL_JOB_RETENTION_DAYS): finished jobs older than that are deleted, with their
 * events, steps and webhook deliveries. Their model calls stay, with `job_id` set to null:
 * budgets and `/v1/usage` read them, and a deleted job must not give a tenant its spend back.
 * A job whose webhook is still being delivered waits for the delivery to end.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';

/** Deletes up to `limit` of the oldest finished jobs older than `days`; returns how many. */
export async function deleteFinishedJobs(db: Database, days: number, limit: number): Promise<number> {
  const finished = sql`status IN ('completed', 'failed', 'canceled') AND finished_at < now() - make_interval(days => ${days}::int)`;
  // The conditions again on the DELETE itself: PostgreSQL checks those (not the subquery's)
  // against a row changed meanwhile, so a job retried through the API as it was picked stays.
  const [row] = await db.query<{ n: number }>(sql`
    WITH gone AS (
      DELETE FROM jobs WHERE ${finished} AND id IN (
        SELECT j.id FROM jobs j
        WHERE ${finished}
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.job_id = j.id AND w.status = 'pending')
        ORDER BY j.finished_at LIMIT ${limit}::int)
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`);
  return row?.n ?? 0;
}

/**
 * A reconciler sweep (it runs under the reconciler's lock, in one process at a time): once a
 * minute at most, up to ten batches of 1,000, so a first run over a large backlog spreads over
 * passes instead of holding the lock.
 */
export function retentionSweep(db: Database, log: Logger, days: number, everyMs = 60_000): () => Promise<void> {
  let next = 0;
  return async () => {
    if (days <= 0 || Date.now() < next) return;
    next = Date.now() + everyMs;
    let deleted = 0;
    for (let batch = 0; batch < 10; batch++) {
      const n = await deleteFinishedJobs(db, days, 1_000);
      deleted += n;
      if (n < 1_000) break;
    }
    if (deleted > 0) log.info({ deleted, days }, 'retention: deleted finished jobs');
  };
}
