/**
 * Operator queries: read jobs across all tenants. Kept here (not in the tenant-scoped store)
 * so no tenant route can reach them by mistake.
 */
import type { Database } from '@spool/core/db';
import { sql } from 'drizzle-orm';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface StepRow {
  name: string;
  status: 'running' | 'completed' | 'failed';
  runs: number;
  startedAt: string;
  finishedAt: string | null;
}

export interface AdminJobRow {
  id: string;
  tenant_id: string;
  tenant_name: string | null;
  type: string;
  status: JobStatus;
  input: unknown;
  result: unknown;
  error: { code: string; message: string; retryable?: boolean } | null;
  progress: { pct: number; message?: string } | null;
  attempts: number;
  usage: { inputTokens: number; outputTokens: number; costUsd: number } | null;
  last_seq: number;
  cancel_requested_at?: string | Date | null;
  created_at: string | Date;
  started_at: string | Date | null;
  finished_at: string | Date | null;
  steps?: StepRow[];
}

export interface AdminListFilter {
  status?: JobStatus | undefined;
  type?: string | undefined;
  /** A tenant id or a tenant name. */
  tenant?: string | undefined;
  /** Created at or after. */
  from?: Date | undefined;
  /** Created before. */
  to?: Date | undefined;
  /** The last id of the previous page (ids are time-ordered uuidv7). */
  cursor?: string | undefined;
  limit: number;
}

/** Jobs of every tenant, newest first, one page (`limit`) after `cursor`. */
export async function listAllJobs(db: Database, f: AdminListFilter): Promise<AdminJobRow[]> {
  return db.query<AdminJobRow>(sql`
    SELECT j.id, j.tenant_id, t.name AS tenant_name, j.type, j.status, j.error, j.progress, j.attempts, j.usage,
      j.last_seq, j.created_at, j.started_at, j.finished_at, NULL AS input, NULL AS result
    FROM jobs j LEFT JOIN tenants t ON t.id = j.tenant_id
    WHERE TRUE
      ${f.status ? sql`AND j.status = ${f.status}` : sql``}
      ${f.type ? sql`AND j.type = ${f.type}` : sql``}
      ${f.tenant ? sql`AND (j.tenant_id = ${f.tenant} OR t.name = ${f.tenant})` : sql``}
      ${f.from ? sql`AND j.created_at >= ${f.from.toISOString()}::timestamptz` : sql``}
      ${f.to ? sql`AND j.created_at < ${f.to.toISOString()}::timestamptz` : sql``}
      ${f.cursor ? sql`AND j.id < ${f.cursor}` : sql``}
    ORDER BY j.id DESC LIMIT ${f.limit}`);
}

/** One job of any tenant with its steps (in the order they first started). */
export async function getAnyJob(db: Database, id: string): Promise<AdminJobRow | undefined> {
  const rows = await db.query<AdminJobRow>(sql`
    SELECT j.*, t.name AS tenant_name, COALESCE((
      SELECT jsonb_agg(jsonb_build_object('name', s.name, 'status', s.status, 'runs', s.runs,
        'startedAt', s.started_at, 'finishedAt', s.finished_at) ORDER BY s.position)
      FROM job_steps s WHERE s.job_id = j.id), '[]'::jsonb) AS steps
    FROM jobs j LEFT JOIN tenants t ON t.id = j.tenant_id
    WHERE j.id = ${id}`);
  return rows[0];
}
