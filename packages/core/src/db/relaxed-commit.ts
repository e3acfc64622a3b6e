/**
 * A commit that does not wait for the WAL flush, for writes a PostgreSQL crash may drop
 * because a retry redoes them: a claim (the attempt runs again) and a step checkpoint (the step
 * runs again). `set_config(..., true)` sets `synchronous_commit = off` for the statement's own
 * transaction, so it takes no extra round trip. The WAL is flushed in order: the next
 * synchronous commit (a submission, an attempt's closing write) makes these durable too, so a
 * terminal status never outlives the claim and steps before it. The WAL writer flushes within
 * `wal_writer_delay` (200 ms) meanwhile. Embedded PGlite lives in the worker's process, where a
 * killed worker is a crashed database: it commits synchronously.
 *
 * Goes in the statement's final select list: `SELECT a, b ${relaxedCommit(db)} FROM ...`.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from './client.ts';

export function relaxedCommit(db: Database): SQL {
  return db.kind === 'postgres' ? sql`, set_config('synchronous_commit', 'off', true) AS relaxed` : sql``;
}
