/** SQL of the webhook outbox: written with terminal states, read and updated by deliveries. */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { isoTime } from '../time.ts';

/**
 * A CTE body that records a delivery for every row of the CTE `upd` (jobs rows, `RETURNING *`)
 * that reached a terminal status and has a webhook URL (its own, or its tenant's default).
 * Used inside the statements that commit terminal states, so status and outbox commit together.
 */
export const outboxInsert = sql`
  INSERT INTO webhook_deliveries (id, job_id, tenant_id, url, event_type, snapshot, status)
  SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), u.id, u.tenant_id,
    COALESCE(u.webhook_url, t.default_webhook_url), 'job.' || u.status,
    to_jsonb(u.*) || jsonb_build_object('steps', COALESCE((
      SELECT jsonb_agg(jsonb_build_object('name', s.name, 'status', s.status, 'runs', s.runs,
        'startedAt', s.started_at, 'finishedAt', s.finished_at) ORDER BY s.position)
      FROM job_steps s WHERE s.job_id = u.id), '[]'::jsonb)),
    'pending'
  FROM upd u JOIN tenants t ON t.id = u.tenant_id
  WHERE u.status IN ('completed', 'failed', 'canceled') AND COALESCE(u.webhook_url, t.default_webhook_url) IS NOT NULL
  RETURNING id, job_id`;

export interface DeliveryRecord {
  id: string;
  job_id: string;
  tenant_id: string;
  url: string;
  event_type: string;
  snapshot: Record<string, unknown>;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: string | Date;
  webhook_secret: string;
  previous_webhook_secret: string | null;
  previous_secret_expires_at: string | Date | null;
}

export async function getDelivery(db: Database, id: string): Promise<DeliveryRecord | undefined> {
  const rows = await db.query<DeliveryRecord>(sql`
    SELECT d.*, t.webhook_secret, t.previous_webhook_secret, t.previous_secret_expires_at
    FROM webhook_deliveries d JOIN tenants t ON t.id = d.tenant_id WHERE d.id = ${id}`);
  return rows[0];
}

export interface AttemptRecord {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** The delivery's status after this attempt. */
  status: 'pending' | 'succeeded' | 'failed';
  nextRetryAt: Date | null;
}

/** Records an attempt and moves the delivery on, in one statement (only if still pending). */
export async function recordAttempt(db: Database, a: AttemptRecord): Promise<void> {
  await db.query(sql`
    WITH upd AS (
      UPDATE webhook_deliveries SET attempts = ${a.attempt}, status = ${a.status},
        last_status_code = ${a.statusCode}, last_error = ${a.error},
        next_attempt_at = COALESCE(${a.nextRetryAt?.toISOString() ?? null}::timestamptz, next_attempt_at),
        finished_at = ${a.status === 'pending' ? null : new Date().toISOString()}::timestamptz
      WHERE id = ${a.deliveryId} AND status = 'pending'
      RETURNING id
    )
    INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, latency_ms, error, next_retry_at)
    SELECT id, ${a.attempt}, ${a.startedAt.toISOString()}::timestamptz, ${a.statusCode}, ${a.latencyMs}, ${a.error},
      ${a.nextRetryAt?.toISOString() ?? null}::timestamptz
    FROM upd
    ON CONFLICT DO NOTHING`);
}

export interface DeliveryView {
  id: string;
  url: string;
  eventType: string;
  status: string;
  attempts: {
    attempt: number;
    at: string;
    statusCode: number | null;
    latencyMs: number;
    error: string | null;
    nextRetryAt: string | null;
  }[];
  nextAttemptAt: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** A job's deliveries with every attempt; empty if the job is not the tenant's. */
export async function listDeliveries(db: Database, tenantId: string, jobId: string): Promise<DeliveryView[]> {
  const rows = await db.query<DeliveryView>(sql`
    SELECT d.id, d.url, d.event_type AS "eventType", d.status,
      CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS "nextAttemptAt",
      d.created_at AS "createdAt", d.finished_at AS "finishedAt",
      COALESCE((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'at', a.started_at, 'statusCode', a.status_code,
        'latencyMs', a.latency_ms, 'error', a.error, 'nextRetryAt', a.next_retry_at) ORDER BY a.attempt)
        FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempts
    FROM webhook_deliveries d WHERE d.job_id = ${jobId} AND d.tenant_id = ${tenantId}
    ORDER BY d.created_at`);
  // Times in ISO 8601 UTC like the rest of the API (PostgreSQL's own text form otherwise).
  return rows.map((d) => ({
    ...d,
    nextAttemptAt: isoTime(d.nextAttemptAt),
    createdAt: isoTime(d.createdAt)!,
    finishedAt: isoTime(d.finishedAt),
    attempts: d.attempts.map((a) => ({ ...a, at: isoTime(a.at)!, nextRetryAt: isoTime(a.nextRetryAt) })),
  }));
}

/** Makes a job's latest delivery pending again, due now. Returns its id. */
export async function resetLatestDelivery(db: Database, tenantId: string, jobId: string): Promise<string | undefined> {
  const rows = await db.query<{ id: string }>(sql`
    UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), finished_at = NULL
    WHERE id = (SELECT id FROM webhook_deliveries WHERE job_id = ${jobId} AND tenant_id = ${tenantId} ORDER BY created_at DESC LIMIT 1)
    RETURNING id`);
  return rows[0]?.id;
}

/** Pending deliveries older than the grace period, after `afterId`, for the reconciler. */
export async function pendingDeliveries(db: Database, afterId: string, graceMs: number, limit: number) {
  return db.query<{ id: string; next_attempt_at: string | Date }>(sql`
    SELECT id, next_attempt_at FROM webhook_deliveries
    WHERE status = 'pending' AND id > ${afterId} AND created_at < now() - make_interval(secs => ${graceMs / 1000})
    ORDER BY id LIMIT ${limit}`);
}

export async function countPendingDeliveries(db: Database): Promise<number> {
  const rows = await db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`);
  return rows[0]?.n ?? 0;
}
