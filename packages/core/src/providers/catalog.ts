/**
 * The models a job may name: those the operator configured (the chat chain, the embedding
 * model) and those with a price (the built-in rows and `SPOOL_MODEL_PRICES`, a dated snapshot
 * by its row's prefix). Any other name is refused at submit, and by the worker for a job
 * submitted before the configuration changed: an unpriced model would run at a cost of 0, past
 * every spend cap, and each new name would add its own metric series, breaker and limiter.
 */
import { SpoolError } from '../errors.ts';
import { parseModelRef } from './chain.ts';
import type { ModelsConfig } from './config.ts';
import { priceRow } from './cost.ts';
import { type ModelRef, refName } from './types.ts';

export class ModelCatalog {
  private readonly configured: Set<string>;

  constructor(private readonly config: Pick<ModelsConfig, 'chatModels' | 'embedModel' | 'prices'>) {
    this.configured = new Set([...config.chatModels, config.embedModel].map(refName));
  }

  /**
   * The model's name in metric labels, from a bounded set: its own name when it is configured
   * or has a price row of its own, else the row that prices it (`gpt-4o-mini` for a snapshot of
   * it); undefined when the catalog does not offer it.
   */
  label(ref: ModelRef): string | undefined {
    if (this.configured.has(refName(ref))) return ref.model;
    if (ref.provider === 'local') return ref.model === 'local' ? 'local' : undefined;
    const row = priceRow(this.config.prices, ref.provider, ref.model);
    // The `local` row prices the local provider, not a remote model whose name starts with it.
    return row === undefined || row === 'local' ? undefined : row.replace(/^[^:]*:/, '');
  }

  /** Throws `unknown_model` (422, not retried) for a reference the catalog does not offer. */
  check(raw: string, where = ''): void {
    if (this.label(parseModelRef(raw)) !== undefined) return;
    const offered = this.offered();
    throw new SpoolError(
      'unknown_model',
      `${where}model "${raw}" is not offered here: name one of ${offered.join(', ')}, or a model that SPOOL_MODEL_PRICES prices`,
      { status: 422, retryable: false, details: { model: raw, offered } },
    );
  }

  /** The configured models and the priced ones, as a job names them. */
  offered(): string[] {
    const priced = Object.keys(this.config.prices).map((row) =>
      row.includes(':') ? row : row === 'local' ? 'local' : `openai:${row}`,
    );
    return [...new Set([...this.configured, ...priced])];
  }
}
