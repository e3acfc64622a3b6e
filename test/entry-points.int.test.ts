/** The multi-process entry points start from a clean environment and serve. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
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

describe('an entry point that cannot start says why in one line', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(() => database?.drop());

  /** Runs an entry point to its exit; returns the exit code and what it printed. */
  async function run(file: string, env: Record<string, string>): Promise<{ code: number | string; output: string }> {
    const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, file)], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: database.url,
        REDIS_URL,
        SPOOL_QUEUE_PREFIX: randomPrefix(),
        LOG_LEVEL: 'info',
        ...env,
      },
    });
    const code = await Promise.race([
      child.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${file} did not exit:\n${child.output()}`)), 45_000)),
    ]).finally(() => child.stop('SIGKILL'));
    return { code, output: child.output() };
  }

  const noStackTrace = (output: string) => expect(output).not.toMatch(/\n\s+at /);

  it('a bad setting: the variable and what it must be, no stack trace (API, worker, dashboard)', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['apps/api/src/main.ts', { PORT: 'abc' }, /PORT: must be a port number \(0–65535\)/],
      ['apps/api/src/main.ts', { PORT: '99999' }, /PORT: must be a port number/],
      ['apps/worker/src/main.ts', { SPOOL_WORKER_LOCK_MS: '-5' }, /SPOOL_WORKER_LOCK_MS: /],
      ['apps/worker/src/main.ts', { WORKER_METRICS_PORT: '70000' }, /WORKER_METRICS_PORT: must be a port number/],
      ['apps/dashboard/src/main.ts', { DASHBOARD_PORT: 'x' }, /DASHBOARD_PORT: must be a port number/],
      ['packages/core/src/db/migrate-cli.ts', { SPOOL_DB_POOL: 'many' }, /SPOOL_DB_POOL: must be a whole number/],
      ['apps/api/src/main.ts', { SPOOL_RATE_LIMIT_PER_MIN: '-1' }, /SPOOL_RATE_LIMIT_PER_MIN: must be a whole number ≥ 0/],
      ['apps/api/src/main.ts', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/],
      // Every process checks every variable: a bad worker setting in a shared file stops the API too.
      ['apps/api/src/main.ts', { SPOOL_WEBHOOK_RETRY_DELAYS: '1,x' }, /SPOOL_WEBHOOK_RETRY_DELAYS: /],
      ['apps/worker/src/main.ts', { PORT: 'abc' }, /PORT: must be a port number/],
      // Past Node's timer limit a lock fired every millisecond and wedged takeovers for weeks.
      [
        'apps/worker/src/main.ts',
        { SPOOL_WORKER_LOCK_MS: '3000000000' },
        /SPOOL_WORKER_LOCK_MS: must be a whole number ≤ 2147483647/,
      ],
      ['apps/worker/src/main.ts', { SPOOL_WEBHOOK_RETRY_DELAYS: ',' }, /SPOOL_WEBHOOK_RETRY_DELAYS: expected comma-separated/],
    ];
    for (const [file, env, message] of cases) {
      const { code, output } = await run(file, env);
      expect(code, `${file} ${JSON.stringify(env)}`).toBe(1);
      expect(output).toMatch(/^Invalid configuration:/);
      expect(output).toMatch(message);
      noStackTrace(output);
    }
    // Twelve processes one after another, each compiling its imports with tsx: slow on a busy host.
  }, 180_000);

  it('a SPOOL_CONCURRENCY entry for a type that does not exist stops the worker (a typo left the type at its default)', async () => {
    const { code, output } = await run('apps/worker/src/main.ts', { SPOOL_CONCURRENCY: 'nosuchtype=5,chat=2' });
    expect(code).toBe(1);
    expect(output).toMatch(/SPOOL_CONCURRENCY: no job type "nosuchtype" \(types: chat, /);
    expect(output).not.toContain('worker started');
    noStackTrace(output);
  });

  it('a port in use or a database that does not answer: one line, and a worker takes no job first', async () => {
    const busy = createServer().listen(0);
    await once(busy, 'listening');
    const port = String((busy.address() as AddressInfo).port);
    try {
      const api = await run('apps/api/src/main.ts', { PORT: port });
      expect(api.code).toBe(1);
      expect(api.output).toMatch(/^The Spool API could not start: listen EADDRINUSE/);
      noStackTrace(api.output);

      const worker = await run('apps/worker/src/main.ts', { WORKER_METRICS_PORT: port });
      expect(worker.code).toBe(1);
      expect(worker.output).toMatch(/The Spool worker could not start: listen EADDRINUSE/);
      // The metrics port is bound before the queues are consumed.
      expect(worker.output).not.toContain('worker started');
      noStackTrace(worker.output);
    } finally {
      busy.close();
    }

    const migrate = await run('packages/core/src/db/migrate-cli.ts', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(migrate.code).toBe(1);
    expect(migrate.output).toMatch(
      /^Migrations could not start: cannot reach the database at DATABASE_URL \(127\.0\.0\.1:1\/none\): .*ECONNREFUSED/,
    );
    noStackTrace(migrate.output);
    const worker = await run('apps/worker/src/main.ts', { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/none' });
    expect(worker.code).toBe(1);
    expect(worker.output).toMatch(
      /The Spool worker could not start: cannot reach the database at DATABASE_URL \(127\.0\.0\.1:1\/none\)/,
    );
    expect(worker.output).not.toContain('secret');
    noStackTrace(worker.output);
  });
});
