/** `pnpm db:migrate`: applies drizzle/ to DATABASE_URL (or the embedded database). */
import { baseEnv, databaseEnv, loadEnv } from '../env.ts';
import { startFailed } from '../shutdown.ts';
import { createDatabase, databaseOptions } from './client.ts';
import { migrate } from './migrate.ts';

const DOCUMENT_TYPES = 'document job types (ingest, rag-query, embed-refresh, and summarize by documentId)';

async function main() {
  const env = loadEnv(baseEnv.merge(databaseEnv));
  const db = await createDatabase({ ...databaseOptions(env), poolSize: 1 });
  try {
    await migrate(db);
    console.log(`migrations applied (${env.DATABASE_URL ? 'PostgreSQL' : `embedded PGlite in ${env.SPOOL_DATA_DIR}/pg`})`);
    console.log(
      db.vectors
        ? `vector tables applied (pgvector): ${DOCUMENT_TYPES} are on`
        : `the vector extension (pgvector) is not available here: ${DOCUMENT_TYPES} are off`,
    );
  } finally {
    await db.close();
  }
}

main().catch(startFailed('Migrations'));
