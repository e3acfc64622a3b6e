/** A fresh PostgreSQL database per test file, migrated, dropped at the end. */
import { randomBytes } from 'node:crypto';
import { createDatabase, type Database, migrate } from '@spool/core/db';
import postgres from 'postgres';
import { PG_ADMIN_URL } from './env.ts';

export interface TestDatabase {
  url: string;
  db: Database;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const name = `spool_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const db = await createDatabase({ url: url.toString(), dataDir: '', poolSize: 10 });
  await migrate(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.close().catch(() => {});
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end();
    },
  };
}
