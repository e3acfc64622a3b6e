/**
 * SQL for model-call traces: one row per call (written by the worker, rolled up into the
 * job's `usage` in the same statement), the trace of a job, usage reports, tenant spend and
 * spend caps.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { lockedTransaction } from '../db/locked.ts';
import { newId } from '../ids.ts';

export interface NewModelCall {
  id: string;
  jobId: string;
  tenantId: string;
  jobType: string;
  step: string | null;
  attempt: number;
  callTry: number;
  kind: 'chat' | 'embed';
  provider: string;
  model: string;
  promptVersion: string | null;
  status: 'ok' | 'error' | 'cached' | 'skipped';
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  cacheLayer: 'exact' | 'semantic' | null;
  fallbackFrom: string | null;
  errorClass: string | null;
  errorMessage: string | null;
  redacted: boolean;
  injectionSuspected: boolean;
  retrieval: RetrievalTrace | null;
}

/**
 * Records a call and adds its tokens and cost to the job's `usage`. Not fenced on the
 * attempt: a call a stale worker made was still paid for.
 */
export async function insertModelCall(db: Database, c: NewModelCall): Promise<void> {
  const spent = c.inputTokens > 0 || c.outputTokens > 0 || c.costUsd > 0;
  await db.query(sql`
    WITH ins AS (
      INSERT INTO model_calls (id, job_id, tenant_id, job_type, step, attempt, call_try, kind, provider, model,
        prompt_version, status, input_tokens, output_tokens, cost_usd, latency_ms, cache_layer, fallback_from,
        error_class, error_message, redacted, injection_suspected, retrieval)
      VALUES (${c.id}, ${c.jobId}, ${c.tenantId}, ${c.jobType}, ${c.step}, ${c.attempt}, ${c.callTry}, ${c.kind},
        ${c.provider}, ${c.model}, ${c.promptVersion}, ${c.status}, ${c.inputTokens}, ${c.outputTokens},
        ${c.costUsd}, ${c.latencyMs}, ${c.cacheLayer}, ${c.fallbackFrom}, ${c.errorClass}, ${c.errorMessage},
        ${c.redacted}, ${c.injectionSuspected}, ${c.retrieval ? JSON.stringify(c.retrieval) : null}::jsonb)
      RETURNING job_id, input_tokens, output_tokens, cost_usd
    )
    UPDATE jobs j SET usage = jsonb_build_object(
        'inputTokens', COALESCE((j.usage->>'inputTokens')::bigint, 0) + ins.input_tokens,
        'outputTokens', COALESCE((j.usage->>'outputTokens')::bigint, 0) + ins.output_tokens,
        'costUsd', COALESCE((j.usage->>'costUsd')::numeric, 0) + ins.cost_usd)
    FROM ins WHERE j.id = ins.job_id AND ${spent}`);
}

/** What a retrieval-augmented job retrieved, kept on the trace row of its query's embedding call. */
export interface RetrievalTrace {
  /** The question as embedded (cut to 2,000 characters). */
  query: string;
  collection: string;
  /** The collection's active embedding model the search used. */
  embeddingModel: string;
  topK: number;
  filters: { accessLevels: string[]; documentIds: string[] | null };
  rerank: boolean;
  /** Candidates the vector search returned (more than topK when reranking). */
  candidates: number;
  /** Milliseconds the vector search statement took (the embedding call has its own latency). */
  searchMs: number;
  /** The chunks kept, best first. */
  chunks: { chunkId: string; documentId: string; score: number; rerankScore?: number | undefined }[];
}

/**
 * Attaches a retrieval to the latest successful embedding call of (job, attempt, step): the
 * call that embedded the query. No row (a trace write that failed) is not an error.
 */
export async function attachRetrieval(
  db: Database,
  at: { jobId: string; attempt: number; step: string },
  retrieval: RetrievalTrace,
): Promise<void> {
  await db.query(sql`
    UPDATE model_calls SET retrieval = ${JSON.stringify(retrieval)}::jsonb
    WHERE id = (SELECT id FROM model_calls WHERE job_id = ${at.jobId} AND attempt = ${at.attempt} AND step = ${at.step}
      AND kind = 'embed' AND status = 'ok' ORDER BY created_at DESC, id DESC LIMIT 1)`);
}

export interface TraceRow {
  id: string;
  step: string | null;
  attempt: number;
  callTry: number;
  kind: string;
  provider: string;
  model: string;
  promptVersion: string | null;
  status: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  cacheLayer: string | null;
  fallbackFrom: string | null;
  errorClass: string | null;
  errorMessage: string | null;
  redacted: boolean;
  injectionSuspected: boolean;
  retrieval: unknown;
  createdAt: string;
}

/** A job's calls in the order they were made, or undefined when the job is not the tenant's. */
export async function jobTrace(db: Database, tenantId: string, jobId: string): Promise<TraceRow[] | undefined> {
  const rows = await db.query<{ job: string | null; calls: TraceRow[] | null }>(sql`
    SELECT (SELECT id FROM jobs WHERE id = ${jobId} AND tenant_id = ${tenantId}) AS job,
      (SELECT jsonb_agg(jsonb_build_object('id', id, 'step', step, 'attempt', attempt, 'callTry', call_try, 'kind', kind,
          'provider', provider, 'model', model, 'promptVersion', prompt_version, 'status', status,
          'inputTokens', input_tokens, 'outputTokens', output_tokens, 'costUsd', cost_usd::float8,
          'latencyMs', latency_ms, 'cacheLayer', cache_layer, 'fallbackFrom', fallback_from, 'errorClass', error_class,
          'errorMessage', error_message, 'redacted', redacted, 'injectionSuspected', injection_suspected,
          'retrieval', retrieval, 'createdAt', created_at) ORDER BY created_at, id)
        FROM model_calls WHERE job_id = ${jobId} AND tenant_id = ${tenantId}) AS calls`);
  const row = rows[0];
  if (!row?.job) return undefined;
  return (row.calls ?? []).map((c) => ({ ...c, createdAt: new Date(c.createdAt).toISOString() }));
}

export interface UsageRow {
  day: string;
  type: string;
  provider: string;
  model: string;
  calls: number;
  cacheHits: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Tokens and cost by UTC day, job type and model, for `[from, to)`. */
export async function usageByDay(db: Database, tenantId: string, from: Date, to: Date): Promise<UsageRow[]> {
  return db.query<UsageRow>(sql`
    SELECT to_char(date_trunc('day', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, job_type AS type, provider, model,
      count(*) FILTER (WHERE status IN ('ok', 'cached'))::int AS calls,
      count(*) FILTER (WHERE status = 'cached')::int AS "cacheHits",
      count(*) FILTER (WHERE status = 'error')::int AS errors,
      COALESCE(sum(input_tokens), 0)::bigint::float8 AS "inputTokens",
      COALESCE(sum(output_tokens), 0)::bigint::float8 AS "outputTokens",
      COALESCE(sum(cost_usd), 0)::float8 AS "costUsd"
    FROM model_calls
    WHERE tenant_id = ${tenantId} AND created_at >= ${from.toISOString()}::timestamptz AND created_at < ${to.toISOString()}::timestamptz
      AND status <> 'skipped'
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`);
}

export interface Spend {
  dayUsd: number;
  monthUsd: number;
}

// The current UTC day and month, as PostgreSQL's clock has them: what spend caps count.
const dayStart = sql`date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
const monthStart = sql`date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

/** The tenant's spend in the current UTC day and month. */
export async function tenantSpend(db: Database, tenantId: string): Promise<Spend> {
  const rows = await db.query<Spend>(sql`
    SELECT COALESCE(sum(cost_usd) FILTER (WHERE created_at >= ${dayStart}), 0)::float8 AS "dayUsd",
      COALESCE(sum(cost_usd), 0)::float8 AS "monthUsd"
    FROM model_calls
    WHERE tenant_id = ${tenantId} AND created_at >= ${monthStart}`);
  return rows[0] ?? { dayUsd: 0, monthUsd: 0 };
}

/**
 * Holds `usd` of a tenant's spend for a paid call about to be made, if `fits` accepts the spend
 * it sees: what model_calls recorded this UTC day and month plus what calls in flight hold
 * (holds count in both). One transaction under a per-tenant lock, so calls made at once see
 * each other's holds and cannot pass a cap together. Returns the hold's id (none when `fits`
 * refused) and the spend seen. Expired holds (their process died) are dropped on the way.
 */
export async function holdSpend(
  db: Database,
  tenantId: string,
  usd: number,
  holdMs: number,
  fits: (spend: Spend) => boolean,
): Promise<{ holdId?: string; spend: Spend }> {
  return lockedTransaction(db, `spool:budget:${tenantId}`, async (tx) => {
    await tx.execute(sql`DELETE FROM budget_holds WHERE tenant_id = ${tenantId} AND expires_at <= now()`);
    // One statement, so one snapshot of both tables. As two, a call that recorded its cost and
    // released its hold between them was in neither, and two calls passed a cap together.
    const [seen] = await tx
      .select({
        dayUsd: sql<number>`recorded.day_usd`,
        monthUsd: sql<number>`recorded.month_usd`,
        heldUsd: sql<number>`held.usd`,
      })
      .from(sql`
        (SELECT COALESCE(sum(cost_usd) FILTER (WHERE created_at >= ${dayStart}), 0)::float8 AS day_usd,
           COALESCE(sum(cost_usd), 0)::float8 AS month_usd
         FROM model_calls WHERE tenant_id = ${tenantId} AND created_at >= ${monthStart}) recorded,
        (SELECT COALESCE(sum(usd), 0)::float8 AS usd FROM budget_holds WHERE tenant_id = ${tenantId}) held`);
    const heldUsd = Number(seen?.heldUsd ?? 0);
    const spend = { dayUsd: Number(seen?.dayUsd ?? 0) + heldUsd, monthUsd: Number(seen?.monthUsd ?? 0) + heldUsd };
    if (!fits(spend)) return { spend };
    const holdId = newId();
    await tx.execute(sql`
      INSERT INTO budget_holds (id, tenant_id, usd, expires_at)
      VALUES (${holdId}, ${tenantId}, ${usd}, now() + ${holdMs} * interval '1 millisecond')`);
    return { holdId, spend };
  });
}

/** Ends a hold, once its call's cost is recorded in model_calls (or the call was not made). */
export async function releaseHold(db: Database, holdId: string): Promise<void> {
  await db.query(sql`DELETE FROM budget_holds WHERE id = ${holdId}`);
}

export interface TenantBudget {
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

/** The tenant's own caps (null: the deployment default), or undefined for an unknown tenant. */
export async function tenantBudget(db: Database, tenantId: string): Promise<TenantBudget | undefined> {
  const rows = await db.query<TenantBudget>(sql`
    SELECT daily_budget_usd::float8 AS "dailyUsd", monthly_budget_usd::float8 AS "monthlyUsd" FROM tenants WHERE id = ${tenantId}`);
  return rows[0];
}

export async function setTenantBudget(db: Database, tenantId: string, b: TenantBudget): Promise<boolean> {
  const rows = await db.query(sql`
    UPDATE tenants SET daily_budget_usd = ${b.dailyUsd}, monthly_budget_usd = ${b.monthlyUsd} WHERE id = ${tenantId} RETURNING 1`);
  return rows.length > 0;
}
