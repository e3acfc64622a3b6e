/**
 * Applies drizzle/ to the database. On PostgreSQL it runs under an advisory lock, so several
 * processes starting at once apply each migration exactly once. Safe to run twice.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './client.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../../drizzle');
/** The vector tables (documents, chunks): applied only where the `vector` extension is available. */
export const VECTOR_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../../drizzle-vector');
const VECTOR_MIGRATIONS_TABLE = '__drizzle_vector_migrations';

// Any constant shared by every Spool process: "spool" in ASCII.
const MIGRATION_LOCK_KEY = 0x73706f6f6c;

export async function migrate(db: Database): Promise<void> {
  if (db.kind === 'pglite') {
    // One process owns an embedded database: no lock needed.
    const { migrate: run } = await import('drizzle-orm/pglite/migrator');
    await run(db.orm as never, { migrationsFolder: MIGRATIONS_DIR });
    db.vectors = await tryVectorExtension((q) => db.orm.execute(q));
    if (db.vectors)
      await run(db.orm as never, { migrationsFolder: VECTOR_MIGRATIONS_DIR, migrationsTable: VECTOR_MIGRATIONS_TABLE });
    return;
  }
  const url = db.url!;
  // A session-level lock needs one connection for lock, migrations and unlock: a pool of one.
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { migrate: run } = await import('drizzle-orm/postgres-js/migrator');
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    // The first statement of every process that starts: its failure (refused, unknown host, bad
    // password) is about DATABASE_URL, so say so; the URL is shown without its credentials.
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.catch((err: Error) => {
      const u = new URL(url);
      throw new Error(`cannot reach the database at DATABASE_URL (${u.hostname}:${u.port || 5432}${u.pathname}): ${err.message}`);
    });
    await run(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
    db.vectors = await tryVectorExtension((q) => client.unsafe(q));
    if (db.vectors)
      await run(drizzle(client), { migrationsFolder: VECTOR_MIGRATIONS_DIR, migrationsTable: VECTOR_MIGRATIONS_TABLE });
    await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

/** `CREATE EXTENSION IF NOT EXISTS vector`: false when pgvector is not installed (or not allowed). */
async function tryVectorExtension(exec: (statement: string) => Promise<unknown>): Promise<boolean> {
  try {
    await exec('CREATE EXTENSION IF NOT EXISTS vector');
    return true;
  } catch {
    return false;
  }
}
