/** The embedded driver: the same migrations (applied twice) and the whole job path on PGlite. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, migrate } from '@spool/core/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('embedded PGlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-pglite-'));
  let stack: Stack;

  beforeAll(async () => {
    const db = await createDatabase({ dataDir: dir });
    expect(db.kind).toBe('pglite');
    await migrate(db);
    await migrate(db); // safe to run twice
    stack = await startStack({
      database: { url: '', db, drop: async () => db.close() },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a job with a retried step to completed, with its events', async () => {
    const t = await stack.tenant();
    const api = client(stack.url, t.apiKey);
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, failAt: 2, failTimes: 1 } });
    expect(res.status).toBe(202);
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    expect(job.steps.map((s: any) => s.runs)).toEqual([1, 2, 1]);
    const list = await api.call('GET', '/v1/jobs?limit=5');
    expect(list.body.data.map((j: any) => j.id)).toContain(res.body.id);
  });
});
