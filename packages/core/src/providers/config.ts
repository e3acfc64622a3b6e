/**
 * The model layer's configuration, from the environment piece `providerEnv` (env.ts). Pure:
 * env.ts validates with these parsers, so a bad chain, price or limit stops start-up.
 */
import type { BreakerOptions } from './breaker.ts';
import type { BudgetDefaults } from './budget.ts';
import type { CacheOptions } from './cache.ts';
import { defaultChatModels, parseChain, parseModelRef } from './chain.ts';
import { DEFAULT_PRICES, type PriceTable, parsePrices } from './cost.ts';
import type { RetryPolicy } from './resilience.ts';
import type { ModelRef } from './types.ts';

export interface ModelLimits {
  /** Requests per window; 0 = unlimited. */
  rpm: number;
  /** Tokens (input + expected output) per window; 0 = unlimited. */
  tpm: number;
}

/**
 * "openai:gpt-4o-mini=500/200000,openai:*=60/100000" → limits by model reference; `*` after
 * the provider is that provider's default. 0 means unlimited.
 */
export function parseLimits(raw: string): Record<string, ModelLimits> {
  const out: Record<string, ModelLimits> = {};
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = part.match(/^([^=\s]+)\s*=\s*(\d+)\s*\/\s*(\d+)$/);
    if (!m) throw new Error(`expected "provider:model=RPM/TPM", got "${part}"`);
    out[m[1]!] = { rpm: Number(m[2]), tpm: Number(m[3]) };
  }
  return out;
}

export function limitsFor(table: Record<string, ModelLimits>, ref: ModelRef): ModelLimits {
  return table[`${ref.provider}:${ref.model}`] ?? table[`${ref.provider}:*`] ?? { rpm: 0, tpm: 0 };
}

export interface ModelsConfig {
  chatModels: ModelRef[];
  embedModel: ModelRef;
  openai: { baseURL?: string | undefined; apiKey?: string | undefined };
  /** Per HTTP attempt. */
  timeoutMs: number;
  retry: RetryPolicy;
  breaker: BreakerOptions;
  limits: Record<string, ModelLimits>;
  limitWindowMs: number;
  prices: PriceTable;
  cache: CacheOptions;
  redactPii: boolean;
  budgets: BudgetDefaults;
}

/** The environment variables of the model layer, as `providerEnv` and `budgetEnv` parse them. */
export interface ModelsEnv {
  OPENAI_BASE_URL?: string | undefined;
  OPENAI_API_KEY?: string | undefined;
  SPOOL_CHAT_MODELS?: string | undefined;
  SPOOL_EMBED_MODEL: string;
  SPOOL_MODEL_TIMEOUT_MS: number;
  SPOOL_MODEL_RETRIES: number;
  SPOOL_MODEL_RETRY_BASE_MS: number;
  SPOOL_MODEL_RETRY_MAX_MS: number;
  SPOOL_MODEL_MAX_RETRY_WAIT_MS: number;
  SPOOL_BREAKER_FAILURES: number;
  SPOOL_BREAKER_OPEN_MS: number;
  SPOOL_MODEL_LIMITS: string;
  SPOOL_MODEL_LIMIT_WINDOW_MS: number;
  SPOOL_MODEL_PRICES: string;
  SPOOL_CACHE_TTL_S: number;
  SPOOL_SEMANTIC_CACHE_THRESHOLD: number;
  SPOOL_REDACT_PII: boolean;
  SPOOL_TENANT_DAILY_BUDGET_USD: number;
  SPOOL_TENANT_MONTHLY_BUDGET_USD: number;
}

export function modelsConfig(env: ModelsEnv): ModelsConfig {
  const openaiConfigured = Boolean(env.OPENAI_API_KEY || env.OPENAI_BASE_URL);
  return {
    chatModels: parseChain(env.SPOOL_CHAT_MODELS ?? defaultChatModels(openaiConfigured)),
    embedModel: parseModelRef(env.SPOOL_EMBED_MODEL),
    openai: { baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY },
    timeoutMs: env.SPOOL_MODEL_TIMEOUT_MS,
    retry: {
      retries: env.SPOOL_MODEL_RETRIES,
      baseMs: env.SPOOL_MODEL_RETRY_BASE_MS,
      maxMs: env.SPOOL_MODEL_RETRY_MAX_MS,
      maxWaitMs: env.SPOOL_MODEL_MAX_RETRY_WAIT_MS,
    },
    breaker: { failures: env.SPOOL_BREAKER_FAILURES, openMs: env.SPOOL_BREAKER_OPEN_MS },
    limits: parseLimits(env.SPOOL_MODEL_LIMITS),
    limitWindowMs: env.SPOOL_MODEL_LIMIT_WINDOW_MS,
    prices: { ...DEFAULT_PRICES, ...parsePrices(env.SPOOL_MODEL_PRICES) },
    cache: { ttlMs: env.SPOOL_CACHE_TTL_S * 1000, semanticThreshold: env.SPOOL_SEMANTIC_CACHE_THRESHOLD },
    redactPii: env.SPOOL_REDACT_PII,
    budgets: { dailyUsd: env.SPOOL_TENANT_DAILY_BUDGET_USD, monthlyUsd: env.SPOOL_TENANT_MONTHLY_BUDGET_USD },
  };
}
