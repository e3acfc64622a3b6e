/**
 * An in-process Spool (API over real HTTP on a free port, optionally a worker) on a fresh
 * database and a random BullMQ prefix, against the machine's real Redis and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServerType } from '@hono/node-server';
import { buildApiDeps, createApp, serveApi } from '@spool/api';
import { budgetEnv, loadEnv, providerEnv } from '@spool/core/env';
import { createRegistry } from '@spool/core/jobs';
import { createLogger, type Logger } from '@spool/core/logger';
import { ModelCatalog, modelsConfig } from '@spool/core/providers';
import type { WebhookWorkerOptions } from '@spool/core/webhooks';
import { type RunningWorker, startWorker } from '@spool/worker';
import { freshDatabase, type TestDatabase } from './database.ts';
import { REDIS_URL } from './env.ts';

export interface Stack {
  url: string;
  prefix: string;
  adminToken: string;
  database: TestDatabase;
  api: ReturnType<typeof buildApiDeps>;
  app: ReturnType<typeof createApp>;
  worker: RunningWorker | undefined;
  startWorker(): Promise<RunningWorker>;
  tenant(name?: string): Promise<{ id: string; apiKey: string; webhookSecret: string }>;
  close(): Promise<void>;
}

export interface StackOptions {
  worker?: boolean;
  redisUrl?: string;
  database?: TestDatabase;
  lockMs?: number;
  reconcileIntervalMs?: number;
  bodyLimitBytes?: number;
  sseBufferEvents?: number;
  sseHeartbeatMs?: number;
  sseCheckMs?: number;
  rateLimitPerMin?: number;
  tenantConcurrency?: number;
  /** SPOOL_JOB_RETENTION_DAYS (0: keep every job). */
  retentionDays?: number;
  /** Model-layer and budget variables (providerEnv, budgetEnv), parsed as at boot. */
  env?: Record<string, string>;
  /** The logger of the API and the worker (default: pino at LOG_LEVEL, silent when unset). */
  log?: Logger;
  /** Webhook delivery settings (tests use short retry delays and allow loopback receivers). */
  webhooks?: Partial<WebhookWorkerOptions>;
}

export const randomPrefix = () => `spooltest-${randomBytes(4).toString('hex')}`;

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const database = opts.database ?? (await freshDatabase());
  const prefix = randomPrefix();
  const adminToken = `admin-${randomBytes(12).toString('hex')}`;
  const log = opts.log ?? createLogger(process.env.LOG_LEVEL ?? 'silent');
  const registry = createRegistry({ enableDebugJobs: true });
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const models = modelsConfig(loadEnv(providerEnv.merge(budgetEnv), opts.env ?? {}));
  const api = buildApiDeps({
    db: database.db,
    registry,
    log,
    redisUrl,
    prefix,
    adminToken,
    bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
    sseBufferEvents: opts.sseBufferEvents ?? 1000,
    sseHeartbeatMs: opts.sseHeartbeatMs ?? 15_000,
    ...(opts.sseCheckMs !== undefined && { sseCheckMs: opts.sseCheckMs }),
    rateLimitPerMin: opts.rateLimitPerMin ?? 0,
    budgets: models.budgets,
    models: new ModelCatalog(models),
    webhooks: { allowPrivate: opts.webhooks?.allowPrivate ?? true, secretOverlapMs: 86_400_000, lookup: opts.webhooks?.lookup },
  });
  const app = createApp(api);
  const server: ServerType = await new Promise((resolve) => {
    const s = serveApi(app.fetch, { port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const stack: Stack = {
    url,
    prefix,
    adminToken,
    database,
    api,
    app,
    worker: undefined,
    async startWorker() {
      stack.worker = await startWorker(
        { db: database.db, registry, log },
        {
          redisUrl,
          prefix,
          lockMs: opts.lockMs ?? 5_000,
          concurrency: {},
          reconcileIntervalMs: opts.reconcileIntervalMs ?? 1_000,
          tenantConcurrency: opts.tenantConcurrency ?? 0,
          retentionDays: opts.retentionDays ?? 0,
          models,
          webhooks: { allowPrivate: true, retryDelaysMs: [0, 200, 400, 800], timeoutMs: 2_000, ...opts.webhooks },
        },
      );
      return stack.worker;
    },
    async tenant(name = 'acme') {
      const res = await fetch(`${url}/v1/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string; apiKey: string; webhookSecret: string };
    },
    async close() {
      await stack.worker?.close();
      await new Promise((r) => server.close(r));
      (server as Server).closeAllConnections();
      await api.close();
      if (!opts.database) await database.drop();
    },
  };
  if (opts.worker !== false) await stack.startWorker();
  return stack;
}

/** A small client for tests: JSON in, JSON out, with the tenant's key. */
export function client(url: string, apiKey: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined } as {
      status: number;
      headers: Headers;
      body: any;
    };
  };
  return {
    call,
    submit: (body: unknown, headers?: Record<string, string>) => call('POST', '/v1/jobs', body, headers),
    get: (id: string) => call('GET', `/v1/jobs/${id}`),
    /** Polls until the job reaches one of `statuses` (default: any terminal one). */
    async waitFor(id: string, statuses = ['completed', 'failed', 'canceled'], timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await call('GET', `/v1/jobs/${id}`);
        if (statuses.includes(res.body?.status)) return res.body;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${res.body?.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
