/**
 * SPOOL_VECTOR_EF_SEARCH reaches every connection retrieval runs on: each pooled PostgreSQL
 * connection (a startup parameter, also on a server without pgvector) and PGlite's one
 * session, where an HNSW search then keeps that many candidates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, databaseOptions, migrate } from '@spool/core/db';
import { databaseEnv, loadEnv } from '@spool/core/env';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';

describe('hnsw.ef_search (SPOOL_VECTOR_EF_SEARCH)', () => {
  it('is read from the environment: pgvector default 40, range 1–1000', () => {
    const env = (vars: Record<string, string>) => loadEnv(databaseEnv, vars) as { SPOOL_VECTOR_EF_SEARCH: number };
    expect(env({}).SPOOL_VECTOR_EF_SEARCH).toBe(40);
    expect(env({ SPOOL_VECTOR_EF_SEARCH: '200' }).SPOOL_VECTOR_EF_SEARCH).toBe(200);
    expect(() => env({ SPOOL_VECTOR_EF_SEARCH: '0' })).toThrow(/SPOOL_VECTOR_EF_SEARCH/);
    expect(() => env({ SPOOL_VECTOR_EF_SEARCH: '1001' })).toThrow(/SPOOL_VECTOR_EF_SEARCH/);
  });

  it('is set on every pooled PostgreSQL connection', async () => {
    const test = await freshDatabase();
    const db = await createDatabase(
      databaseOptions({ DATABASE_URL: test.url, SPOOL_DATA_DIR: '', SPOOL_DB_POOL: 4, SPOOL_VECTOR_EF_SEARCH: 123 }),
    );
    try {
      // Concurrent reads spread over the pool's connections, each asking its own backend.
      const rows = await Promise.all(
        Array.from({ length: 8 }, () =>
          db.query<{ pid: number; ef: string }>(
            sql`SELECT pg_backend_pid() AS pid, current_setting('hnsw.ef_search') AS ef, pg_sleep(0.05)`,
          ),
        ),
      );
      expect(new Set(rows.map((r) => r[0]!.pid)).size).toBeGreaterThan(1);
      for (const r of rows) expect(r[0]!.ef).toBe('123');
    } finally {
      await db.close();
      await test.drop();
    }
  });

  it('bounds an HNSW search on PGlite: candidates kept, so rows one index scan returns', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spool-pglite-'));
    const db = await createDatabase({ dataDir, efSearch: 3 });
    try {
      await migrate(db);
      expect(db.vectors).toBe(true);
      const [{ ef }] = await db.query<{ ef: string }>(sql`SELECT current_setting('hnsw.ef_search') AS ef`);
      expect(ef).toBe('3');
      await db.query(sql`CREATE TABLE ef_probe (id int PRIMARY KEY, v vector(3))`);
      await db.query(sql`INSERT INTO ef_probe SELECT i, ARRAY[sin(i), cos(i), i % 7]::vector FROM generate_series(1, 300) i`);
      await db.query(sql`CREATE INDEX ON ef_probe USING hnsw (v vector_l2_ops)`);
      await db.query(sql`SET enable_seqscan = off`); // this session only: make the planner use the index
      const top = () => db.query(sql`SELECT id FROM ef_probe ORDER BY v <-> '[0.5, 0.5, 3]' LIMIT 10`);
      expect(await top()).toHaveLength(3);
      await db.query(sql`SET hnsw.ef_search = 40`);
      expect(await top()).toHaveLength(10);
    } finally {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
