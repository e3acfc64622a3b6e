/**
 * Every Prometheus metric of Spool, named once. Each process serves `registry` on its
 * own `/metrics`; the one-process mode serves the API's and the worker's series together.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
// prom-client's own names start with process_ or nodejs_: spool_process_cpu_seconds_total, spool_nodejs_heap_…
collectDefaultMetrics({ register: registry, prefix: 'spool_' });

// Job latencies span milliseconds (no-op jobs) to many minutes (LLM map-reduce).
const jobSeconds = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800];

export const httpRequestDuration = new Histogram({
  name: 'spool_http_request_duration_seconds',
  help: 'HTTP request duration by route template, method and status.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [registry],
});

export const jobsSubmitted = new Counter({
  name: 'spool_jobs_submitted_total',
  help: 'Jobs accepted (202) by type.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const enqueueFailures = new Counter({
  name: 'spool_enqueue_failures_total',
  help: 'Accepted jobs whose add to Redis failed at submit (the reconciler re-adds them).',
  registers: [registry],
});

export const jobsFinished = new Counter({
  name: 'spool_jobs_finished_total',
  help: 'Jobs that reached a terminal status, by type and status.',
  labelNames: ['type', 'status'] as const,
  registers: [registry],
});

export const jobExecutions = new Counter({
  name: 'spool_job_executions_total',
  help: 'Handler executions (attempts) by type and outcome.',
  labelNames: ['type', 'outcome'] as const,
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: 'spool_job_duration_seconds',
  help: 'Handler run time of one attempt, by type.',
  labelNames: ['type'] as const,
  buckets: jobSeconds,
  registers: [registry],
});

export const queueWait = new Histogram({
  name: 'spool_job_queue_wait_seconds',
  help: 'Time from when a job could run (submit, the end of its delay, or a retry) to the start of its attempt, by type.',
  labelNames: ['type'] as const,
  buckets: jobSeconds,
  registers: [registry],
});

export const activeJobs = new Gauge({
  name: 'spool_worker_active_jobs',
  help: 'Jobs running in this worker process, by type.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const workersRunning = new Gauge({
  name: 'spool_workers_running',
  help: 'BullMQ workers taking jobs in this process, by queue (job type); sum over processes for the fleet.',
  labelNames: ['queue'] as const,
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'spool_queue_depth',
  help: 'BullMQ jobs by queue and state (wait, active, delayed, prioritized, waiting-children, failed, completed), read at scrape time.',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

export const reconcilerRepairs = new Counter({
  name: 'spool_reconciler_repairs_total',
  help: 'Jobs the reconciler re-added or repaired, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const sseSubscribers = new Gauge({
  name: 'spool_sse_subscribers',
  help: 'Open SSE streams in this API process.',
  registers: [registry],
});

export const sseDisconnectsSlow = new Counter({
  name: 'spool_sse_slow_disconnects_total',
  help: 'SSE subscribers disconnected because their buffer passed the cap.',
  registers: [registry],
});

export const eventsFlushed = new Counter({
  name: 'spool_events_flushed_total',
  help: 'Progress, step and token events written to PostgreSQL in batches.',
  registers: [registry],
});

export const webhookDeliveries = new Counter({
  name: 'spool_webhook_attempts_total',
  help: 'Webhook delivery attempts by outcome: succeeded, retry (another attempt scheduled), failed (gave up or 410).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const webhookAttemptDuration = new Histogram({
  name: 'spool_webhook_attempt_duration_seconds',
  help: "Time from connect to the receiver's answer (or the error) of one webhook attempt.",
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30],
  registers: [registry],
});

export const webhooksPending = new Gauge({
  name: 'spool_webhooks_pending',
  help: 'Webhook deliveries not yet succeeded or given up, read at scrape time.',
  registers: [registry],
});

// Model calls: per provider and model (a model name is a bounded set: the configured chain).
export const modelRequests = new Counter({
  name: 'spool_model_requests_total',
  help: 'Model calls (each HTTP attempt, each cache hit, each breaker skip) by provider, model, kind and outcome (ok, cached, skipped, or the error class).',
  labelNames: ['provider', 'model', 'kind', 'outcome'] as const,
  registers: [registry],
});

export const modelTokens = new Counter({
  name: 'spool_model_tokens_total',
  help: 'Tokens of model calls by provider, model and direction (input, output).',
  labelNames: ['provider', 'model', 'direction'] as const,
  registers: [registry],
});

export const modelCost = new Counter({
  name: 'spool_model_cost_usd_total',
  help: 'Cost of model calls in USD (from the price table), by provider and model.',
  labelNames: ['provider', 'model'] as const,
  registers: [registry],
});

export const modelLatency = new Histogram({
  name: 'spool_model_latency_seconds',
  help: 'Latency of one model HTTP attempt (or local call), by provider, model and kind.',
  labelNames: ['provider', 'model', 'kind'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const modelCacheHits = new Counter({
  name: 'spool_model_cache_hits_total',
  help: 'Model answers served from a cache, by layer (exact, semantic).',
  labelNames: ['layer'] as const,
  registers: [registry],
});

export const modelBreakerState = new Gauge({
  name: 'spool_model_breaker_state',
  help: 'Circuit breaker state last seen by this process: 0 closed, 1 half-open, 2 open.',
  labelNames: ['provider', 'model'] as const,
  registers: [registry],
});

export const modelLimiterWait = new Histogram({
  name: 'spool_model_limiter_wait_seconds',
  help: 'Time a model call waited for RPM/TPM admission (or a 429 pause), by provider and model.',
  labelNames: ['provider', 'model'] as const,
  buckets: [0, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
  registers: [registry],
});
