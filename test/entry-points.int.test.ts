/** The multi-process entry points start from a clean environment and serve. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, spawnChild } from './support/children.ts';
import { freshDatabase, type TestDatabase } from './support/database.ts';
import { REDIS_URL, ROOT } from './support/env.ts';
import { freePort, waitHealthy } from './support/ports.ts';
import { randomPrefix } from './support/stack.ts';

describe('pnpm --filter @spool/api start', () => {
  let database: TestDatabase;
  let api: Child | undefined;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await api?.stop('SIGTERM');
    await database?.drop();
  });

  it('starts alone against DATABASE_URL and serves the API and its OpenAPI document', async () => {
    const port = await freePort();
    api = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/api/src/main.ts')], {
      cwd: join(ROOT, 'apps/api'),
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: database.url,
        REDIS_URL,
        SPOOL_QUEUE_PREFIX: randomPrefix(),
        PORT: String(port),
        SPOOL_ADMIN_TOKEN: 'entry-point-admin-token',
        LOG_LEVEL: 'warn',
      },
    });
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(base, 45_000, api);
    const doc = await (await fetch(`${base}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.schemas)).toContain('DebugStepsInput');
    const tenant = await fetch(`${base}/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: 'Bearer entry-point-admin-token', 'content-type': 'application/json' },
      body: '{"name":"e"}',
    });
    expect(tenant.status).toBe(201);
  });
});
