/**
 * The overview's numbers: queue depth from BullMQ (what waits), throughput from PostgreSQL
 * (what finished lately), and model usage and cost per tenant over time (model_calls).
 */
import type { Database } from '@spool/core/db';
import type { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';

export interface QueueDepth {
  name: string;
  /** undefined when Redis did not answer (the page still renders). */
  counts?: { waiting: number; delayed: number; active: number; failed: number; completed: number; paused: number };
  error?: string;
}

/** BullMQ's counts per queue; `waiting` includes prioritized jobs (BullMQ keeps them apart). */
export async function queueDepths(queues: Queue[]): Promise<QueueDepth[]> {
  return Promise.all(
    queues.map(async (q): Promise<QueueDepth> => {
      try {
        const c = await q.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed', 'paused');
        return {
          name: q.name,
          counts: {
            waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
            delayed: c.delayed ?? 0,
            active: c.active ?? 0,
            failed: c.failed ?? 0,
            completed: c.completed ?? 0,
            paused: c.paused ?? 0,
          },
        };
      } catch (err) {
        return { name: q.name, error: (err as Error).message };
      }
    }),
  );
}

export interface Throughput {
  type: string;
  completed1m: number;
  completed5m: number;
  completed15m: number;
  failed15m: number;
  canceled15m: number;
  /** Mean run time (started → finished) of the jobs completed in the last 15 minutes. */
  avgMs: number | null;
}

export const THROUGHPUT_WINDOW_MIN = 15;
/** How far back a finished job may have been created and still count (see throughput()). */
const CREATED_LOOKBACK_MS = 24 * 3_600_000;

/** The smallest uuidv7 of a millisecond: its first 48 bits are the Unix time in ms. */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/**
 * Jobs finished in the last 1, 5 and 15 minutes, by type. The jobs table has no index on
 * finished_at; ids are uuidv7 (time-ordered), so bounding the id to the last day keeps this a
 * primary-key range scan instead of a scan of all history. A job created more than a day
 * before it finished is not counted: rare, and this is a glance, not accounting.
 */
export async function throughput(db: Database, now = Date.now()): Promise<Throughput[]> {
  return db.query<Throughput>(sql`
    SELECT type,
      count(*) FILTER (WHERE status = 'completed' AND finished_at > now() - interval '1 minute')::int AS "completed1m",
      count(*) FILTER (WHERE status = 'completed' AND finished_at > now() - interval '5 minutes')::int AS "completed5m",
      count(*) FILTER (WHERE status = 'completed')::int AS "completed15m",
      count(*) FILTER (WHERE status = 'failed')::int AS "failed15m",
      count(*) FILTER (WHERE status = 'canceled')::int AS "canceled15m",
      (avg(extract(epoch FROM finished_at - started_at) * 1000) FILTER (WHERE status = 'completed'))::float8 AS "avgMs"
    FROM jobs
    WHERE id >= ${uuidv7Floor(now - CREATED_LOOKBACK_MS)}
      AND finished_at > now() - make_interval(mins => ${THROUGHPUT_WINDOW_MIN})
    GROUP BY type ORDER BY type`);
}

export interface UsagePoint {
  /** The bucket's start, ISO 8601 (UTC). */
  bucket: string;
  tenantId: string;
  tenantName: string | null;
  calls: number;
  tokens: number;
  costUsd: number;
}

export type Bucket = 'hour' | 'day';

/** Model calls per tenant and hour or day in `[from, to)`; `tenant` is an id or a name. */
export async function usageSeries(
  db: Database,
  o: { from: Date; to: Date; bucket: Bucket; tenant?: string | undefined },
): Promise<UsagePoint[]> {
  const rows = await db.query<UsagePoint>(sql`
    SELECT to_char(date_trunc(${o.bucket}, m.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"') AS bucket,
      m.tenant_id AS "tenantId", t.name AS "tenantName",
      count(*)::int AS calls,
      COALESCE(sum(m.input_tokens + m.output_tokens), 0)::float8 AS tokens,
      COALESCE(sum(m.cost_usd), 0)::float8 AS "costUsd"
    FROM model_calls m LEFT JOIN tenants t ON t.id = m.tenant_id
    WHERE m.created_at >= ${o.from.toISOString()}::timestamptz AND m.created_at < ${o.to.toISOString()}::timestamptz
      AND m.status <> 'skipped'
      ${o.tenant ? sql`AND (m.tenant_id = ${o.tenant} OR t.name = ${o.tenant})` : sql``}
    GROUP BY 1, 2, 3 ORDER BY 1, 2`);
  return rows.map((r) => ({ ...r, calls: Number(r.calls), tokens: Number(r.tokens), costUsd: Number(r.costUsd) }));
}

/** Every bucket start in `[from, to)`, so days without calls show as gaps, not as nothing. */
export function bucketStarts(from: Date, to: Date, bucket: Bucket): string[] {
  const step = bucket === 'hour' ? 3_600_000 : 86_400_000;
  const first = Math.floor(from.getTime() / step) * step;
  const out: string[] = [];
  for (let t = first; t < to.getTime(); t += step) out.push(`${new Date(t).toISOString().slice(0, 13)}:00:00Z`);
  return out;
}
