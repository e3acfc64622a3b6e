/** `pnpm db:migrate`: applies drizzle/ to DATABASE_URL (or the embedded database). */
import { baseEnv, databaseEnv, loadEnv } from '../env.ts';
import { createDatabase, databaseOptions } from './client.ts';
import { migrate } from './migrate.ts';

const env = loadEnv(baseEnv.merge(databaseEnv));
const db = await createDatabase({ ...databaseOptions(env), poolSize: 1 });
try {
  await migrate(db);
  console.log(`migrations applied (${env.DATABASE_URL ? 'PostgreSQL' : `embedded PGlite in ${env.SPOOL_DATA_DIR}/pg`})`);
  console.log(
    db.vectors
      ? 'vector tables applied (pgvector): document job types (ingest, rag-query) are on'
      : 'the vector extension (pgvector) is not available here: document job types (ingest, rag-query) are off',
  );
} finally {
  await db.close();
}
