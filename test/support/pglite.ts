/** A fresh embedded PGlite (with pgvector) in a temp dir, migrated: for the vector tables. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrate } from '@spool/core/db';
import type { TestDatabase } from './database.ts';

export async function freshPglite(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-pglite-'));
  const db = await createDatabase({ dataDir });
  await migrate(db);
  return {
    url: '',
    db,
    async drop() {
      await db.close().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
