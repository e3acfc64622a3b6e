/**
 * A transaction that holds an advisory lock on `key` (per tenant, say) until it ends: for a
 * check and a write that must not interleave with another process's (a count, then an insert
 * within the limit). As separate statements, concurrent callers all read the same rows.
 */
import { sql } from 'drizzle-orm';
import type { Database, Orm } from './client.ts';

export type Tx = Parameters<Parameters<Orm['transaction']>[0]>[0];

export function lockedTransaction<T>(db: Database, key: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.orm.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`);
    return work(tx);
  });
}
