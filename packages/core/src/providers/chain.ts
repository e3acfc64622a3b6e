/**
 * Model references and the fallback chain. `SPOOL_CHAT_MODELS="openai:gpt-4o-mini,local"`:
 * each call tries the models in order, moving on when one is unavailable (breaker open,
 * retries spent, auth or quota failure). A job that names a `model` puts it first; the rest
 * of the configured chain stays behind it as the fallback.
 */
import { z } from 'zod';
import type { ModelRef } from './types.ts';

export const PROVIDERS = ['openai', 'local'] as const;

/** "openai:gpt-4o-mini" → {openai, gpt-4o-mini}; "local" → {local, local}; a bare name → `defaultProvider`. */
export function parseModelRef(raw: string, defaultProvider = 'openai'): ModelRef {
  const s = raw.trim();
  if (!s) throw new Error('empty model reference');
  if (s === 'local') return { provider: 'local', model: 'local' };
  const i = s.indexOf(':');
  if (i === 0) throw new Error(`no provider named in "${s}"`);
  const ref = i > 0 ? { provider: s.slice(0, i), model: s.slice(i + 1) } : { provider: defaultProvider, model: s };
  if (!(PROVIDERS as readonly string[]).includes(ref.provider))
    throw new Error(`unknown provider "${ref.provider}" in "${s}" (known: ${PROVIDERS.join(', ')})`);
  if (!ref.model) throw new Error(`no model named in "${s}"`);
  return ref;
}

/**
 * A job input's model reference, checked at submit: an unknown provider or an empty model name
 * would only fail later, attempt after attempt, as an internal error.
 */
export const ModelRefInput = z
  .string()
  .min(1)
  .max(200)
  .superRefine((raw, ctx) => {
    try {
      parseModelRef(raw);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

export function parseChain(raw: string): ModelRef[] {
  const refs = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => parseModelRef(s));
  if (refs.length === 0) throw new Error('the model chain is empty');
  return refs;
}

/** The chain for one call: the requested model first (if any), then the configured chain without it. */
export function resolveChain(configured: ModelRef[], requested?: string): ModelRef[] {
  if (!requested) return configured;
  const first = parseModelRef(requested);
  return [first, ...configured.filter((r) => !(r.provider === first.provider && r.model === first.model))];
}

/** The default chain: OpenAI first when it is configured, and always `local` last. */
export function defaultChatModels(openaiConfigured: boolean): string {
  return openaiConfigured ? 'openai:gpt-4o-mini,local' : 'local';
}
