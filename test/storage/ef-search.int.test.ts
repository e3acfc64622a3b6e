/**
 * SPOOL_VECTOR_EF_SEARCH reaches every connection retrieval runs on: each pooled PostgreSQL
 * connection (a startup parameter, also on a server without pgvector) and PGlite's one
 * session, where an HNSW search then keeps that many candidates. So does pgvector's iterative
 * scan, which lets a filtered search go on past them until its LIMIT is met.
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
      const { scan } = (await db.query<{ scan: string }>(sql`SELECT current_setting('hnsw.iterative_scan') AS scan`))[0]!;
      expect(scan).toBe('strict_order');
    } finally {
      await db.close();
      await test.drop();
    }
  });

  it('a filtered HNSW search on PGlite returns its LIMIT when the filter keeps a small share of the index', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spool-pglite-'));
    const db = await createDatabase({ dataDir, efSearch: 10 });
    try {
      await migrate(db);
      // Tenant b's 297 vectors are all nearer the query than tenant a's 3: the first 10
      // candidates of the index scan are all b's. Filtered after that scan, a got none.
      await db.query(sql`CREATE TABLE scan_probe (id int PRIMARY KEY, tenant text, v vector(3))`);
      await db.query(
        sql`INSERT INTO scan_probe SELECT i, 'b', ARRAY[1 + i / 1000.0, 1, 1]::vector FROM generate_series(1, 297) i`,
      );
      await db.query(sql`INSERT INTO scan_probe SELECT i, 'a', ARRAY[-5 - i, -5, -5]::vector FROM generate_series(298, 300) i`);
      await db.query(sql`CREATE INDEX ON scan_probe USING hnsw (v vector_l2_ops)`);
      await db.query(sql`SET enable_seqscan = off`); // this session only: make the planner use the index
      const forA = () =>
        db.query<{ id: number }>(sql`SELECT id FROM scan_probe WHERE tenant = 'a' ORDER BY v <-> '[1, 1, 1]' LIMIT 3`);
      expect((await forA()).map((r) => r.id)).toEqual([298, 299, 300]);
      await db.query(sql`SET hnsw.iterative_scan = off`); // as before: one scan of ef_search candidates
      expect(await forA()).toHaveLength(0);
    } finally {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('bounds an HNSW search on PGlite: candidates kept, so rows one index scan returns', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'spool-pglite-'));
    const db = await createDatabase({ dataDir, efSearch: 3 });
    try {
      await migrate(db);
      expect(db.vectors).toBe(true);
      const { ef } = (await db.query<{ ef: string }>(sql`SELECT current_setting('hnsw.ef_search') AS ef`))[0]!;
      expect(ef).toBe('3');
      await db.query(sql`CREATE TABLE ef_probe (id int PRIMARY KEY, v vector(3))`);
      await db.query(sql`INSERT INTO ef_probe SELECT i, ARRAY[sin(i), cos(i), i % 7]::vector FROM generate_series(1, 300) i`);
      await db.query(sql`CREATE INDEX ON ef_probe USING hnsw (v vector_l2_ops)`);
      await db.query(sql`SET enable_seqscan = off`); // this session only: make the planner use the index
      // One scan, no iterating past it: the rows it returns are the candidates it kept.
      await db.query(sql`SET hnsw.iterative_scan = off`);
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
