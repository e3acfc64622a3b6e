/**
 * The provider interface: chat (optionally streamed) and embeddings. Providers only talk to a
 * model; retries, the breaker, limits, caches, budgets and traces wrap them (see models.ts).
 */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Token counts as the provider reported them (or as tiktoken counted, for `local`). */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ProviderChatRequest {
  /** The provider's own model name (`gpt-4o-mini`), not the `provider:model` reference. */
  model: string;
  messages: ChatMessage[];
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /** Asks for JSON matching this JSON Schema. */
  responseSchema?: Record<string, unknown> | undefined;
}

export interface ProviderChatResult {
  content: string;
  usage: TokenUsage;
  finishReason: string | null;
}

/**
 * An answer the provider refused after generating it (its content filter) is still billed, and
 * its response says for how much: the error carries that usage, so the call's trace, the job's
 * usage and the tenant's spend count it.
 */
export const withBilledUsage = <E extends Error>(err: E, usage: TokenUsage): E => Object.assign(err, { billedUsage: usage });

/** The usage a failed call was billed for, when the provider said (see `withBilledUsage`). */
export const billedUsageOf = (err: unknown): TokenUsage | undefined =>
  (err as { billedUsage?: TokenUsage } | undefined)?.billedUsage;

export interface CallOptions {
  signal: AbortSignal;
  /** Set for a streamed call: receives each text fragment as it arrives. */
  onDelta?: ((text: string) => void) | undefined;
}

export interface EmbedResult {
  vectors: number[][];
  inputTokens: number;
}

export interface Provider {
  /** `openai` or `local`. */
  readonly name: string;
  chat(req: ProviderChatRequest, opts: CallOptions): Promise<ProviderChatResult>;
  embed(model: string, texts: string[], opts: CallOptions): Promise<EmbedResult>;
}

/** A model in a chain: `openai:gpt-4o-mini` → { provider: 'openai', model: 'gpt-4o-mini' }. */
export interface ModelRef {
  provider: string;
  model: string;
}

export const refName = (r: ModelRef): string =>
  r.provider === 'local' && r.model === 'local' ? 'local' : `${r.provider}:${r.model}`;
