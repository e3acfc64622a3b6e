/**
 * The storage driver: PostgreSQL through postgres.js when DATABASE_URL is set, otherwise
 * embedded PGlite in `$SPOOL_DATA_DIR/pg`. Both run the same schema and migrations.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export type Orm = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  kind: 'postgres' | 'pglite';
  /** The connection URL (postgres only): migrations open their own single connection. */
  url: string | undefined;
  orm: Orm;
  /**
   * Whether the vector tables (drizzle-vector/, pgvector) are there: set by `migrate`. False
   * on a PostgreSQL without the `vector` extension: the document job types are then off.
   */
  vectors: boolean;
  /** Runs one statement and returns its rows (snake_case columns). */
  query<T = Record<string, unknown>>(statement: SQL): Promise<T[]>;
  /** One round trip: `SELECT 1`. */
  ping(): Promise<void>;
  /** Statements sent so far (postgres driver only; for benchmarks). */
  statements(): number;
  close(): Promise<void>;
}

/**
 * The rows of a statement run with `tx.execute` inside a transaction: postgres.js's driver
 * answers the rows, PGlite's an object that holds them.
 */
export const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];

export interface DatabaseOptions {
  url?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** pgvector's `hnsw.ef_search` for every connection (SPOOL_VECTOR_EF_SEARCH, validated there); unset: pgvector's 40. */
  efSearch?: number | undefined;
}

/** The options every Spool process opens its database with, from its parsed environment. */
export function databaseOptions(env: {
  DATABASE_URL?: string | undefined;
  SPOOL_DATA_DIR: string;
  SPOOL_DB_POOL: number;
  SPOOL_VECTOR_EF_SEARCH: number;
}): DatabaseOptions {
  return {
    url: env.DATABASE_URL,
    dataDir: env.SPOOL_DATA_DIR,
    poolSize: env.SPOOL_DB_POOL,
    efSearch: env.SPOOL_VECTOR_EF_SEARCH,
  };
}

export async function createDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url
    ? createPostgres(opts.url, opts.poolSize ?? 10, opts.efSearch)
    : createPglite(join(opts.dataDir, 'pg'), opts.efSearch);
}

/**
 * pgvector's settings for retrieval. An HNSW scan keeps `ef_search` candidates, and a search
 * filtered by tenant, collection and access level used to filter only those: a tenant with a
 * small share of the index got fewer than `topK` chunks, or none. An iterative scan (pgvector
 * 0.8) goes on scanning the index until the LIMIT is met (at most `hnsw.max_scan_tuples`, 20,000
 * by default), in exact distance order.
 */
function vectorSettings(efSearch: number | undefined): Record<string, string> {
  return { ...(efSearch !== undefined && { 'hnsw.ef_search': String(efSearch) }), 'hnsw.iterative_scan': 'strict_order' };
}

async function createPostgres(url: string, max: number, efSearch: number | undefined): Promise<Database> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  let count = 0;
  const client = postgres(url, {
    max,
    onnotice: () => {},
    // Fail fast when PostgreSQL is down: the API answers 503 instead of hanging.
    connect_timeout: 5,
    // postgres.js waits this long before a closed connection tries again, and a query handed
    // to that connection waits with it. Its default grows to 20 s, so after an outage the API
    // kept waiting (then answering 503) for up to 20 s after PostgreSQL was back. Same
    // jittered curve, capped at 2 s: fast 503s during an outage, recovery within seconds.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 2),
    idle_timeout: 60,
    // Startup parameters of every connection: PostgreSQL keeps them as placeholders until
    // pgvector loads (without pgvector they are never read; a pgvector before 0.8, which has
    // no iterative scans, should drop that one with a warning: untested, see docs/documents.md).
    connection: vectorSettings(efSearch),
    debug: () => {
      count++;
    },
  });
  // drizzle() also sets the client's parsers (timestamps stay strings), which query() shares.
  const orm = drizzle(client, { schema }) as unknown as Orm;
  const { PgDialect } = await import('drizzle-orm/pg-core');
  const dialect = new PgDialect();
  return {
    kind: 'postgres',
    url,
    vectors: false,
    orm,
    // Not orm.execute(): drizzle sends every statement unnamed, so PostgreSQL parses and plans
    // it on every call. Named prepared statements (postgres.js caches them per connection, by
    // text) skip both: a short statement's round trip went from about 0.47 to 0.24 ms, and a
    // step checkpoint's from 1.6 to 0.7 ms. Statement texts are a bounded set: the code's shapes.
    query: async <T>(statement: SQL) => {
      const q = dialect.sqlToQuery(statement);
      return (await client.unsafe(q.sql, q.params as never[], { prepare: true })) as unknown as T[];
    },
    ping: async () => {
      await client`SELECT 1`;
    },
    statements: () => count,
    close: () => client.end({ timeout: 5 }),
  };
}

async function createPglite(dir: string, efSearch: number | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  mkdirSync(dir, { recursive: true });
  // pgvector ships as its own package for PGlite; without it the document job types are off.
  const vector = await import('@electric-sql/pglite-pgvector').then((m) => m.vector).catch(() => undefined);
  const client = await PGlite.create(dir, vector ? { extensions: { vector } } : {});
  // One session for the whole process, so a session setting holds for every query.
  if (vector) {
    for (const [name, value] of Object.entries(vectorSettings(efSearch))) {
      await client.query('SELECT set_config($1, $2, false)', [name, value]);
    }
  }
  const orm = drizzle(client, { schema }) as unknown as Orm;
  return {
    kind: 'pglite',
    url: undefined,
    vectors: false,
    orm,
    query: async <T>(statement: SQL) => rowsOf<T>(await orm.execute(statement)),
    ping: async () => {
      await client.query('SELECT 1');
    },
    statements: () => 0,
    close: () => client.close(),
  };
}
