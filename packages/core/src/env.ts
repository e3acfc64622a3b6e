/**
 * Configuration pieces. Each app composes the pieces it needs into one schema and parses
 * `process.env` once at boot (`loadEnv`); nothing else in Spool reads `process.env`. Every
 * process checks every Spool variable, not only its own: with one environment file shared by
 * the API, the workers and the dashboard, a bad value stops all of them, not one in three.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseChain, parseModelRef } from './providers/chain.ts';
import { parseLimits } from './providers/config.ts';
import { parsePrices } from './providers/cost.ts';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

// Node's timers take at most 2³¹−1 ms (about 24.8 days): a longer lock or interval fired every
// millisecond, and a BullMQ stalled-check key with that lifetime kept every worker from taking
// over killed workers' jobs for weeks.
const MAX_INT = 2_147_483_647;
const int = (fallback: number, min = 0) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be a whole number ≥ ${min}`)
    .max(MAX_INT, `must be a whole number ≤ ${MAX_INT}`)
    .default(fallback);

/** A URL of one of `schemes` (a mysql:// DATABASE_URL failed only at connect, without naming the variable). */
const urlOf = (...schemes: string[]) =>
  z
    .string()
    .url()
    .refine((u) => schemes.some((s) => u.startsWith(`${s}://`)), `must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL`);

const NOT_A_PORT = 'must be a port number (0–65535)';
/** A TCP port; 0 lets the system pick one (tests). */
export const port = (fallback: number) =>
  z.coerce.number({ error: NOT_A_PORT }).int(NOT_A_PORT).min(0, NOT_A_PORT).max(65_535, NOT_A_PORT).default(fallback);

/** "debug-steps=50,chat=8" → { 'debug-steps': 50, chat: 8 } */
const concurrencyMap = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const out: Record<string, number> = {};
    for (const part of raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [name, value] = part.split('=');
      const n = Number(value);
      if (!name || !Number.isInteger(n) || n < 1) {
        ctx.addIssue({ code: 'custom', message: `expected "type=n" with n ≥ 1, got "${part}"` });
        return z.NEVER;
      }
      out[name.trim()] = n;
    }
    return out;
  });

const msList = z
  .string()
  .transform((raw, ctx) => {
    const parts = raw.split(',').map((s) => s.trim());
    const list = parts.map(Number);
    if (parts.some((p) => p === '') || list.some((n) => !Number.isInteger(n) || n < 0 || n > MAX_INT)) {
      ctx.addIssue({ code: 'custom', message: 'expected comma-separated milliseconds' });
      return z.NEVER;
    }
    return list;
  })
  .optional();

export const baseEnv = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SPOOL_DATA_DIR: z.string().default('./.spool'),
  /**
   * On SIGTERM, how long running jobs and open requests have to finish. Past it, running jobs
   * go back to the queue (resumed by the next worker after their last completed step) and open
   * connections are closed. Keep it below the orchestrator's kill timeout.
   */
  SPOOL_SHUTDOWN_GRACE_MS: int(25_000),
});

export const databaseEnv = z.object({
  /** Unset → embedded PGlite in `$SPOOL_DATA_DIR/pg`. */
  DATABASE_URL: urlOf('postgres', 'postgresql').optional(),
  SPOOL_DB_POOL: int(10, 1),
  /**
   * pgvector's `hnsw.ef_search` for retrieval: candidates an HNSW search keeps (and the most
   * rows one index scan returns). Higher: better recall, slower search. pgvector's range.
   */
  SPOOL_VECTOR_EF_SEARCH: z.coerce.number().int().min(1).max(1_000).default(40),
});

export const redisEnv = z.object({
  REDIS_URL: urlOf('redis', 'rediss').default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix; tests and benchmarks use a random one. */
  SPOOL_QUEUE_PREFIX: z.string().min(1).default('spool'),
});

export const jobsEnv = z.object({
  SPOOL_ENABLE_DEBUG_JOBS: bool(true),
  /** Lifts the webhook SSRF guard: loopback and private targets allowed (development, tests). */
  SPOOL_WEBHOOK_ALLOW_PRIVATE: bool(false),
  /** Per-tenant running-job cap, 0 = none. */
  SPOOL_TENANT_CONCURRENCY: int(0),
});

export const apiEnv = z.object({
  PORT: port(3000),
  HOST: z.string().default('0.0.0.0'),
  // Trimmed: a secret file's trailing newline is not part of the token. Inner spaces would make
  // a token no `Authorization: Bearer` header can carry: every admin call would be a 401.
  SPOOL_ADMIN_TOKEN: z
    .string()
    .trim()
    .min(16, 'SPOOL_ADMIN_TOKEN must be at least 16 characters')
    .regex(/^\S+$/, 'SPOOL_ADMIN_TOKEN must not contain spaces (it is sent as a Bearer token)')
    .optional(),
  /** Per-key requests per minute, 0 = off. */
  SPOOL_RATE_LIMIT_PER_MIN: int(0),
  /** Request body limit in bytes (1 MiB). */
  SPOOL_BODY_LIMIT_BYTES: int(1024 * 1024, 1024),
  /** An SSE subscriber whose unsent events pass this many is disconnected (it resumes by Last-Event-ID). */
  SPOOL_SSE_BUFFER_EVENTS: int(1000, 10),
  SPOOL_SSE_HEARTBEAT_MS: int(15_000, 100),
  /** After a webhook secret rotation, how long the old secret still signs too (24 h). */
  SPOOL_WEBHOOK_SECRET_OVERLAP_MS: int(86_400_000),
});

export const dashboardEnv = z.object({ DASHBOARD_PORT: port(3001) });

export const workerEnv = z.object({
  /** BullMQ lock duration: also how fast a killed worker's job is taken over (≈ 1–2× this). */
  SPOOL_WORKER_LOCK_MS: int(30_000, 1000),
  /** Per-type concurrency overrides: "debug-steps=50,chat=8". */
  SPOOL_CONCURRENCY: concurrencyMap,
  SPOOL_RECONCILE_INTERVAL_MS: int(5_000, 100),
  /** Days a finished job is kept in PostgreSQL (store/retention.ts); 0 = for ever. */
  SPOOL_JOB_RETENTION_DAYS: int(0, 0),
  WORKER_METRICS_PORT: port(0),
  /** Delays before each webhook attempt, comma-separated ms; default 0,5s,5m,30m,2h,5h,10h,14h,20h,24h. */
  SPOOL_WEBHOOK_RETRY_DELAYS: msList,
  SPOOL_WEBHOOK_TIMEOUT_MS: int(15_000, 100),
  SPOOL_WEBHOOK_CONCURRENCY: int(50, 1),
  /** Deliveries in flight per tenant, across worker processes. */
  SPOOL_WEBHOOK_TENANT_CONCURRENCY: int(4, 1),
});

/** A string that `parse` accepts (the parse error becomes the configuration message). */
const parsed = (parse: (raw: string) => unknown) =>
  z.string().superRefine((raw, ctx) => {
    try {
      parse(raw);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/** The model layer (worker side): providers, fallback chain, resilience, limits, prices, caches. */
export const providerEnv = z.object({
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  /** Fallback chain, e.g. "openai:gpt-4o-mini,local". Unset: that one when OPENAI_* is set, else "local". */
  SPOOL_CHAT_MODELS: parsed(parseChain).optional(),
  SPOOL_EMBED_MODEL: parsed(parseModelRef).default('local'),
  /** One HTTP attempt's bound. */
  SPOOL_MODEL_TIMEOUT_MS: int(60_000, 100),
  /** Retries on the same model after the first try (the spec asks for at least two). */
  SPOOL_MODEL_RETRIES: int(2),
  SPOOL_MODEL_RETRY_BASE_MS: int(500, 1),
  SPOOL_MODEL_RETRY_MAX_MS: int(20_000, 1),
  /** A Retry-After longer than this is not waited out: the chain falls back instead. */
  SPOOL_MODEL_MAX_RETRY_WAIT_MS: int(60_000),
  SPOOL_BREAKER_FAILURES: int(5, 1),
  SPOOL_BREAKER_OPEN_MS: int(60_000, 100),
  /** "provider:model=RPM/TPM,…" (provider:* for a provider's default); unset = unlimited. */
  SPOOL_MODEL_LIMITS: parsed(parseLimits).default(''),
  SPOOL_MODEL_LIMIT_WINDOW_MS: int(60_000, 1000),
  /** "model=input/output,…" in USD per 1M tokens, over the built-in table. */
  SPOOL_MODEL_PRICES: parsed(parsePrices).default(''),
  SPOOL_CACHE_TTL_S: int(86_400, 1),
  SPOOL_SEMANTIC_CACHE_THRESHOLD: z.coerce.number().min(0).max(1).default(0.92),
  /** Redact emails, phone, card and social security numbers before a prompt leaves the process. */
  SPOOL_REDACT_PII: bool(false),
});

/** Per-tenant spend caps in USD (UTC day, UTC month); 0 = none. A tenant's own caps win. API and worker. */
export const budgetEnv = z.object({
  SPOOL_TENANT_DAILY_BUDGET_USD: z.coerce.number().min(0).default(0),
  SPOOL_TENANT_MONTHLY_BUDGET_USD: z.coerce.number().min(0).default(0),
});

/** Every variable Spool reads, in any process (see the top of this file). */
const spoolEnv = baseEnv
  .merge(databaseEnv)
  .merge(redisEnv)
  .merge(jobsEnv)
  .merge(apiEnv)
  .merge(workerEnv)
  .merge(dashboardEnv)
  .merge(providerEnv)
  .merge(budgetEnv);

/**
 * Parses the environment with a composed schema, or stops start-up with one clear message
 * naming every bad variable.
 */
export function loadEnv<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" (a common shape of `FOO= pnpm start`).
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const others = spoolEnv.safeParse(cleaned);
  const parsed = schema.safeParse(cleaned);
  if (parsed.success && others.success) {
    const data = parsed.data as Record<string, unknown>;
    // `pnpm --filter x start` runs in the package's folder; a relative data dir means the
    // folder the user ran pnpm from (INIT_CWD), not the package's.
    if (typeof data.SPOOL_DATA_DIR === 'string') {
      data.SPOOL_DATA_DIR = resolve(source.INIT_CWD ?? process.cwd(), data.SPOOL_DATA_DIR);
    }
    return parsed.data;
  }
  const issues = [...(parsed.error?.issues ?? []), ...(others.error?.issues ?? [])];
  throw invalidConfiguration(issues.map((i) => [i.path.join('.') || '(env)', i.message]));
}

/** The one message of bad settings, a line per variable: `Invalid configuration:\n  NAME: why`. */
export function invalidConfiguration(issues: [variable: string, message: string][]): ConfigError {
  const lines = [...new Set(issues.map(([variable, message]) => `  ${variable}: ${message}`))];
  return new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type BaseEnv = z.infer<typeof baseEnv>;
export type DatabaseEnv = z.infer<typeof databaseEnv>;
export type RedisEnv = z.infer<typeof redisEnv>;
export type JobsEnv = z.infer<typeof jobsEnv>;
export type ApiEnv = z.infer<typeof apiEnv>;
export type WorkerEnv = z.infer<typeof workerEnv>;
export type ProviderEnv = z.infer<typeof providerEnv>;
export type BudgetEnv = z.infer<typeof budgetEnv>;
