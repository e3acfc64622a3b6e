/**
 * BullMQ queues, one per job type, named after the type. The BullMQ job id is the Spool job
 * id, so Redis and PostgreSQL can always be compared one to one.
 */
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, warnOnErrors } from '../logger.ts';
import type { AnyJobDefinition } from './define-job.ts';

// PostgreSQL keeps history; Redis keeps live work plus a short tail for Bull Board.
const KEEP_COMPLETED = { age: 3_600, count: 1_000 };
const KEEP_FAILED = { age: 24 * 3_600, count: 5_000 };

export interface Queues {
  prefix: string;
  get(type: string): Queue;
  all(): Queue[];
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string, types: AnyJobDefinition[], log: Logger): Queues {
  const map = new Map<string, Queue>();
  for (const def of types) {
    const queue = new Queue(def.name, { connection, prefix });
    warnOnErrors(queue, log, 'queue error', { queue: def.name });
    map.set(def.name, queue);
  }
  return {
    prefix,
    get(type) {
      const q = map.get(type);
      if (!q) throw new Error(`no queue for job type ${type}`);
      return q;
    },
    all: () => [...map.values()],
    close: async () => {
      await Promise.all([...map.values()].map((q) => q.close()));
    },
  };
}

/** What enqueueing needs of a job row. */
export interface EnqueueRow {
  id: string;
  type: string;
  tenantId: string;
  priority: number | null;
  /** When the job may first run (delayMs at submit). */
  runAt: string | Date | null;
}

/** A jobs row as enqueueing needs it. */
export function enqueueRow(r: {
  id: string;
  type: string;
  tenant_id: string;
  priority: number | null;
  run_at: string | Date | null;
}): EnqueueRow {
  return { id: r.id, type: r.type, tenantId: r.tenant_id, priority: r.priority, runAt: r.run_at };
}

/** BullMQ refuses a larger priority at add (1 runs first; none runs before any). */
export const MAX_PRIORITY = 2_097_151;

/** The options every Spool job is added with. */
export function jobOptions(def: AnyJobDefinition, row: EnqueueRow): JobsOptions {
  const delay = row.runAt ? Math.max(0, new Date(row.runAt).getTime() - Date.now()) : 0;
  return {
    jobId: row.id,
    attempts: def.retry.attempts,
    backoff: { type: 'spool' },
    // Clamped: a row stored when the API let 2,097,152 through made every add of its batch
    // fail, the reconciler's included, which then stopped for every tenant.
    ...(row.priority ? { priority: Math.min(row.priority, MAX_PRIORITY) } : {}),
    ...(delay > 0 ? { delay } : {}),
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
}

/**
 * Adds jobs to their queues: one addBulk per type. Adding an id BullMQ already holds is a
 * no-op, which makes re-adding (reconciler, retries of the add) safe.
 */
export async function enqueue(
  queues: Queues,
  registry: { get(name: string): AnyJobDefinition | undefined },
  rows: EnqueueRow[],
): Promise<void> {
  const byType = new Map<string, typeof rows>();
  for (const row of rows) {
    const list = byType.get(row.type) ?? [];
    list.push(row);
    byType.set(row.type, list);
  }
  await Promise.all(
    [...byType].map(([type, list]) => {
      const def = registry.get(type);
      if (!def) throw new Error(`unknown job type ${type}`);
      const queue = queues.get(type);
      if (list.length === 1) {
        const row = list[0]!;
        return queue.add(type, { tenantId: row.tenantId }, jobOptions(def, row));
      }
      return queue.addBulk(list.map((row) => ({ name: type, data: { tenantId: row.tenantId }, opts: jobOptions(def, row) })));
    }),
  );
}
