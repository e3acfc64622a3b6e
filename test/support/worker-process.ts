/**
 * A Spool worker as a real child process (`apps/worker/src/main.ts` under tsx), for faults
 * that need an OS process to die: kill -9 leaves no chance to clean up.
 */
import { join } from 'node:path';
import { type Child, spawnChild } from './children.ts';
import { ROOT } from './env.ts';
import { waitUntil } from './ports.ts';

export interface WorkerProcessOptions {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  lockMs?: number;
  reconcileIntervalMs?: number;
  env?: Record<string, string>;
}

/** Starts a worker process and resolves once it logged "worker started" (bounded). */
export async function startWorkerProcess(o: WorkerProcessOptions): Promise<Child> {
  const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/worker/src/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: o.databaseUrl,
      REDIS_URL: o.redisUrl,
      SPOOL_QUEUE_PREFIX: o.prefix,
      SPOOL_WORKER_LOCK_MS: String(o.lockMs ?? 2_000),
      SPOOL_RECONCILE_INTERVAL_MS: String(o.reconcileIntervalMs ?? 1_000),
      SPOOL_ENABLE_DEBUG_JOBS: 'true',
      // "worker started" is logged at info: it is how this helper knows the worker is up.
      LOG_LEVEL: 'info',
      ...o.env,
    },
  });
  try {
    // tsx compiles the worker's import graph on start: seconds on a busy two-core machine.
    await waitUntil(
      'the worker process to start',
      async () => {
        if (child.proc.exitCode !== null) throw new Error(`worker exited with ${child.proc.exitCode}`);
        return child.output().includes('"msg":"worker started"') ? true : undefined;
      },
      45_000,
      100,
    );
  } catch (err) {
    await child.stop('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- worker output ---\n${child.output()}`);
  }
  return child;
}
