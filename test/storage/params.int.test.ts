/** idArray: ids reach PostgreSQL as one text[] whatever characters they hold, and batch writes use the primary key. */
import { idArray } from '@spool/core/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

describe('idArray', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => database?.drop());

  it('round-trips quotes, backslashes, commas, braces, spaces and the word NULL', async () => {
    const ids = ['a"b', 'c\\d', 'e,f', '{g}', ' h ', 'NULL', 'job_01'];
    const [row] = await database.db.query<{ ids: string[] }>(sql`SELECT ${idArray(ids)} AS ids`);
    expect(row!.ids).toEqual(ids);
  });

  it('lets the planner pick the primary key for a small batch on a table of thousands of rows', async () => {
    const { db } = database;
    await db.query(sql`CREATE TABLE plan_probe (id text PRIMARY KEY, n int)`);
    await db.query(sql`INSERT INTO plan_probe SELECT 'id' || g, g FROM generate_series(1, 20000) g`);
    await db.query(sql`ANALYZE plan_probe`);
    const batch = JSON.stringify(['id5', 'id77', 'id900'].map((id) => ({ id })));
    const plan = async (extra: ReturnType<typeof sql>) =>
      (
        await db.query<{ 'QUERY PLAN': string }>(sql`EXPLAIN UPDATE plan_probe p SET n = p.n + 1
          FROM jsonb_to_recordset(${batch}::jsonb) AS i(id text) WHERE p.id = i.id ${extra}`)
      )
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    // Without the array the recordset is taken for 100 rows, and the whole table is scanned.
    expect(await plan(sql``)).toMatch(/Seq Scan on plan_probe/);
    expect(await plan(sql`AND p.id = ANY(${idArray(['id5', 'id77', 'id900'])})`)).toMatch(/plan_probe_pkey/);
  });
});
