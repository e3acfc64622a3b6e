/**
 * Job tables. They work on any PostgreSQL 13+ (no extensions). Vector tables live in a
 * separate, guarded migration set (see docs/architecture.md).
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  webhookSecret: text('webhook_secret').notNull(),
  /** After a rotation, the old secret still signs (a second signature) until this time. */
  previousWebhookSecret: text('previous_webhook_secret'),
  previousSecretExpiresAt: ts('previous_secret_expires_at'),
  /** Used when a job names no webhook. */
  defaultWebhookUrl: text('default_webhook_url'),
  /** Spend caps in USD (UTC day and month); null → the deployment's default (SPOOL_TENANT_*_BUDGET_USD). */
  dailyBudgetUsd: numeric('daily_budget_usd', { precision: 14, scale: 6 }),
  monthlyBudgetUsd: numeric('monthly_budget_usd', { precision: 14, scale: 6 }),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** SHA-256 of the key; the key itself is shown once and never stored. */
    keyHash: text('key_hash').notNull(),
    /** First characters of the key, so an operator can tell keys apart. */
    keyPrefix: text('key_prefix').notNull(),
    name: text('name'),
    scopes: text('scopes').array().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_key_hash_idx').on(t.keyHash), index('api_keys_tenant_idx').on(t.tenantId)],
);

export const jobs = pgTable(
  'jobs',
  {
    /** uuidv7: time-ordered, so `id` is also the keyset cursor for "newest first". */
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    status: text('status').notNull(),
    input: jsonb('input').notNull(),
    result: jsonb('result'),
    error: jsonb('error'),
    progress: jsonb('progress'),
    /** Attempts started; also the fencing token of the worker that holds the job. */
    attempts: integer('attempts').notNull().default(0),
    priority: integer('priority'),
    metadata: jsonb('metadata'),
    usage: jsonb('usage'),
    webhookUrl: text('webhook_url'),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash'),
    /** Highest event seq committed for this job (progress events may run ahead, see events/). */
    lastSeq: integer('last_seq').notNull().default(0),
    cancelRequestedAt: ts('cancel_requested_at'),
    /** When the job may first run (delayMs); the reconciler re-adds with the remaining delay. */
    runAt: ts('run_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    queuedAt: ts('queued_at').notNull().defaultNow(),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    /**
     * Set by a worker's closing write of `failed`: BullMQ's attemptsMade once BullMQ has recorded
     * that failure. Only then may the row be claimed again (an operator's retry in Bull Board);
     * a copy of the job that a stall left in BullMQ's wait list finds a lower count (store/lease.ts).
     */
    failedAttemptsMade: integer('failed_attempts_made'),
  },
  (t) => [
    index('jobs_tenant_id_idx').on(t.tenantId, t.id.desc()),
    uniqueIndex('jobs_tenant_idempotency_idx').on(t.tenantId, t.idempotencyKey).where(sql`idempotency_key IS NOT NULL`),
    // The reconciler scans only live jobs; terminal rows are the bulk of the table.
    index('jobs_live_idx').on(t.status, t.id).where(sql`status IN ('queued', 'running')`),
    // The retention sweep deletes the oldest finished jobs first (store/retention.ts).
    index('jobs_finished_idx').on(t.finishedAt).where(sql`status IN ('completed', 'failed', 'canceled')`),
  ],
);

export const jobSteps = pgTable(
  'job_steps',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    status: text('status').notNull(),
    runs: integer('runs').notNull().default(0),
    output: jsonb('output'),
    error: jsonb('error'),
    /** Order in which the step first started: `steps` are listed in this order. */
    position: bigint('position', { mode: 'number' }).notNull(),
    startedAt: ts('started_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.name] })],
);

export const jobEvents = pgTable(
  'job_events',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.seq] })],
);

/**
 * The webhook outbox: one row per (job, terminal event), written in the same statement as the
 * terminal status. `id` is the stable `webhook-id` of every attempt.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    tenantId: text('tenant_id').notNull(),
    url: text('url').notNull(),
    eventType: text('event_type').notNull(),
    /** The job row as the terminal statement left it: every attempt sends the same body. */
    snapshot: jsonb('snapshot').notNull(),
    /** pending → succeeded | failed (gave up, or 410) */
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    index('webhook_deliveries_job_idx').on(t.jobId),
    index('webhook_deliveries_pending_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
  ],
);

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    deliveryId: text('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    startedAt: ts('started_at').notNull(),
    statusCode: integer('status_code'),
    latencyMs: integer('latency_ms').notNull(),
    error: text('error'),
    nextRetryAt: ts('next_retry_at'),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);

/**
 * One row per model call: every HTTP attempt (failed ones too), every cache hit, every model
 * skipped because its breaker was open. The job's `usage` and the tenant's spend are sums of
 * these rows.
 */
export const modelCalls = pgTable(
  'model_calls',
  {
    id: text('id').primaryKey(),
    /** Null once the job is deleted by the retention sweep: budgets and usage still count the call. */
    jobId: text('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    tenantId: text('tenant_id').notNull(),
    jobType: text('job_type').notNull(),
    step: text('step'),
    /** The job attempt that made the call. */
    attempt: integer('attempt').notNull(),
    /** The HTTP try within the call (1 = first, 2 = first retry, …). */
    callTry: integer('call_try').notNull().default(1),
    /** chat | embed */
    kind: text('kind').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    promptVersion: text('prompt_version'),
    /** ok | error | cached | skipped (breaker open) */
    status: text('status').notNull(),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
    costUsd: numeric('cost_usd', { precision: 14, scale: 8 }).notNull().default('0'),
    latencyMs: integer('latency_ms').notNull().default(0),
    /** exact | semantic, on a cache hit. */
    cacheLayer: text('cache_layer'),
    /** The model of the chain this call fell back from. */
    fallbackFrom: text('fallback_from'),
    errorClass: text('error_class'),
    errorMessage: text('error_message'),
    redacted: boolean('redacted').notNull().default(false),
    injectionSuspected: boolean('injection_suspected').notNull().default(false),
    /** What a retrieval retrieved (RetrievalTrace: query, filters, chunk ids and scores), on its query's embedding call. */
    retrieval: jsonb('retrieval'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('model_calls_job_idx').on(t.jobId, t.createdAt), index('model_calls_tenant_idx').on(t.tenantId, t.createdAt)],
);

/**
 * Recurring jobs: a cron expression and a job template. PostgreSQL holds the schedule; a BullMQ
 * job scheduler on the `schedules` queue fires it (see docs/architecture.md, "Schedules").
 */
export const schedules = pgTable(
  'schedules',
  {
    /** `sch_` + uuidv7: time-ordered, so `id` is also the keyset cursor. */
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name'),
    /** 5 fields, or 6 with seconds first (cron-parser, as BullMQ reads it). */
    cron: text('cron').notNull(),
    /** IANA zone the expression is read in; null → UTC. */
    timezone: text('timezone'),
    jobType: text('job_type').notNull(),
    jobInput: jsonb('job_input').notNull(),
    jobPriority: integer('job_priority'),
    jobWebhookUrl: text('job_webhook_url'),
    jobMetadata: jsonb('job_metadata'),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastRunAt: ts('last_run_at'),
    lastJobId: text('last_job_id'),
    /** Why the last firing made no job ({code, message}), cleared by the next success. */
    lastError: jsonb('last_error'),
  },
  (t) => [index('schedules_tenant_idx').on(t.tenantId, t.id.desc())],
);

/**
 * Spend held by paid model calls in flight (providers/budget.ts): it counts against the tenant's
 * caps until the call's cost is in model_calls, or until `expires_at` if the process holding it
 * died. Without holds, calls made at once all saw the same spend and passed a cap together.
 */
export const budgetHolds = pgTable(
  'budget_holds',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    usd: numeric('usd', { precision: 14, scale: 8 }).notNull(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('budget_holds_tenant_idx').on(t.tenantId)],
);

export type TenantRow = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type JobStepRow = typeof jobSteps.$inferSelect;
export type JobEventRow = typeof jobEvents.$inferSelect;
export type ModelCallRow = typeof modelCalls.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
