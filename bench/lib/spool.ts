/**
 * Spool under test, through its real entry points: `apps/api/src/main.ts` and
 * `apps/worker/src/main.ts` under tsx, configured by environment variables only.
 */
import { freePort, waitHealthy, waitUntil } from '../../test/support/ports.ts';
import { type NodeChild, startNode } from './proc.ts';

export interface SpoolConfig {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  adminToken: string;
}

const common = (c: SpoolConfig): Record<string, string> => ({
  DATABASE_URL: c.databaseUrl,
  REDIS_URL: c.redisUrl,
  SPOOL_QUEUE_PREFIX: c.prefix,
  SPOOL_ENABLE_DEBUG_JOBS: 'true',
  NODE_ENV: 'production',
});

export interface SpoolApi {
  child: NodeChild;
  url: string;
}

export async function startApi(c: SpoolConfig): Promise<SpoolApi> {
  const port = await freePort();
  const child = startNode(
    'apps/api/src/main.ts',
    { ...common(c), PORT: String(port), HOST: '127.0.0.1', SPOOL_ADMIN_TOKEN: c.adminToken, LOG_LEVEL: 'warn' },
    {
      raiseFdLimit: true,
      profile: true,
      cwd: 'apps/api',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, 60_000, child);
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
  return { child, url };
}

export async function startSpoolWorker(c: SpoolConfig): Promise<NodeChild> {
  // "worker started" is logged at info: it is how the harness knows the worker is up.
  const child = startNode('apps/worker/src/main.ts', { ...common(c), LOG_LEVEL: 'info' }, { profile: true });
  try {
    await waitUntil(
      'the Spool worker to start',
      async () => {
        if (child.proc.exitCode !== null) throw new Error(`worker exited with ${child.proc.exitCode}`);
        return child.output().includes('"msg":"worker started"') ? true : undefined;
      },
      60_000,
      100,
    );
  } catch (err) {
    await child.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- worker output ---\n${child.output()}`);
  }
  return child;
}

/** A tenant and its API key, through the admin route. */
export async function createTenant(url: string, adminToken: string): Promise<string> {
  const res = await fetch(`${url}/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench' }),
  });
  if (res.status !== 201) throw new Error(`tenant create failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { apiKey: string }).apiKey;
}

/** A small JSON client with the tenant's key (for set-up and latency probes, not for load). */
export function spoolClient(url: string, apiKey: string) {
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const post = async (path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    headers,
    submit: (body: unknown): Promise<{ id: string }> => post('/v1/jobs', body),
    /** Submits `n` copies of `job` in batches of up to 1,000; returns the ids. */
    async submitMany(job: unknown, n: number, batch = 1_000): Promise<string[]> {
      const ids: string[] = [];
      for (let done = 0; done < n; done += batch) {
        const size = Math.min(batch, n - done);
        const res = (await post('/v1/jobs/batch', { jobs: Array.from({ length: size }, () => job) })) as {
          data: { id: string }[];
        };
        for (const j of res.data) ids.push(j.id);
      }
      return ids;
    },
    cancel: (id: string) => post(`/v1/jobs/${id}/cancel`).catch(() => undefined),
  };
}
