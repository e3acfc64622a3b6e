/**
 * Prices in USD per 1M tokens, input and output. The built-in rows are OpenAI's list prices
 * (standard tier, mid-2025); `SPOOL_MODEL_PRICES` adds or overrides rows, so a self-hosted
 * model can be priced at its real cost. A model with no row costs 0 and is reported unpriced.
 */
import type { CallUsage } from './models.ts';
import type { TokenUsage } from './types.ts';

export interface Price {
  /** USD per 1M input tokens. */
  input: number;
  /** USD per 1M output tokens. */
  output: number;
}

export type PriceTable = Record<string, Price>;

export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  local: { input: 0, output: 0 },
};

/** "gpt-4o-mini=0.15/0.6,my-model=1/2" → rows (USD per 1M input/output tokens). */
export function parsePrices(raw: string): PriceTable {
  const out: PriceTable = {};
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = part.match(/^([^=\s]+)\s*=\s*([0-9.]+)\s*\/\s*([0-9.]+)$/);
    const input = Number(m?.[2]);
    const output = Number(m?.[3]);
    if (!m || !Number.isFinite(input) || !Number.isFinite(output))
      throw new Error(`expected "model=input/output" (USD per 1M tokens), got "${part}"`);
    out[m[1]!] = { input, output };
  }
  return out;
}

/**
 * The price of a model: an exact row, else the row it is a dated snapshot of
 * (`gpt-4o-mini-2024-07-18` or `gpt-4-0613` take `gpt-4o-mini`'s or `gpt-4`'s price). Any
 * other name the row starts (`gpt-4o-audio-preview`, `o4-mini-deep-research`) is another model,
 * priced differently: it has no row, so it is refused until priced. The provider part of
 * a reference is ignored, except that every `local` model is free.
 */
export function priceOf(table: PriceTable, provider: string, model: string): Price | undefined {
  if (provider === 'local') return { input: 0, output: 0 };
  const row = priceRow(table, provider, model);
  return row === undefined ? undefined : table[row];
}

/** The key of the row that prices a model (see `priceOf`), or undefined when none does. */
export function priceRow(table: PriceTable, provider: string, model: string): string | undefined {
  if (table[`${provider}:${model}`]) return `${provider}:${model}`;
  if (table[model]) return model;
  const snapshot = SNAPSHOT.exec(model);
  return snapshot && table[snapshot[1]!] ? snapshot[1] : undefined;
}

/** A model name with a dated snapshot's suffix: `-2024-07-18`, or `-0613`. */
const SNAPSHOT = /^(.+)-(?:\d{4}-\d{2}-\d{2}|\d{4})$/;

/** USD at the trace column's scale (1e-8): sums of costs compare and add as stored. */
export const roundUsd = (usd: number): number => Math.round(usd * 1e8) / 1e8;

/** USD, rounded to 1e-8 (the trace column's scale). */
export function costUsd(price: Price | undefined, usage: TokenUsage): number {
  if (!price) return 0;
  return roundUsd((usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000);
}

/** Two calls' usage as one. */
export const addUsage = (a: CallUsage, b: CallUsage): CallUsage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  costUsd: roundUsd(a.costUsd + b.costUsd),
});
