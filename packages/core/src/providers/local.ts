/**
 * The `local` provider: no network, no key, deterministic. It is not a language model and
 * does not pretend to be: chat answers are extractive (the sentences of the conversation that
 * best match the last question, quoted as they are), JSON answers are the simplest instance of
 * the requested schema filled with that text, and embeddings are hashed word and character
 * n-grams (fixed dimension, L2-normalized), good for near-duplicate and lexical similarity.
 * It lets every job type run on a fresh machine.
 */
import { truncate } from '../jobs/storable-json.ts';
import { chunkByTokens, countChatTokens, countTokens } from './tokens.ts';
import type { CallOptions, ChatMessage, EmbedResult, Provider, ProviderChatRequest, ProviderChatResult } from './types.ts';

/** Dimension of local embeddings. 384: the size of common small sentence-embedding models. */
export const LOCAL_EMBED_DIM = 384;
const MAX_ANSWER_SENTENCES = 3;
export const NOTHING_IN_CONTEXT = 'Nothing in the given text answers this.';

export function createLocalProvider(): Provider {
  return {
    name: 'local',
    async chat(req: ProviderChatRequest, opts: CallOptions): Promise<ProviderChatResult> {
      opts.signal.throwIfAborted();
      const text = extractiveAnswer(req.messages);
      let content = req.responseSchema ? JSON.stringify(instanceOf(req.responseSchema, text)) : text;
      if (req.maxTokens !== undefined && !req.responseSchema) content = truncateWords(content, req.maxTokens);
      if (opts.onDelta) for (const piece of content.match(/\S+\s*/g) ?? []) opts.onDelta(piece);
      return {
        content,
        usage: { inputTokens: countChatTokens(req.messages), outputTokens: countTokens(content) },
        finishReason: 'stop',
      };
    },
    async embed(_model: string, texts: string[], opts: CallOptions): Promise<EmbedResult> {
      opts.signal.throwIfAborted();
      return { vectors: texts.map(localEmbedding), inputTokens: texts.reduce((n, t) => n + countTokens(t), 0) };
    },
  };
}

const words = (s: string) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
const sentencesOf = (s: string) => (s.match(/[^.!?\n]+[.!?]*/g) ?? []).map((x) => x.trim()).filter(Boolean);

/**
 * The answer to the last user message: the sentences of the other messages that share the
 * most words with it (in their original order); with no other text, the message's own
 * leading sentences (an extractive summary of what was asked).
 */
export function extractiveAnswer(messages: ChatMessage[]): string {
  const lastUser = messages.findLast((m) => m.role === 'user');
  const question = lastUser?.content ?? '';
  const context = messages.filter((m) => m !== lastUser && m.role !== 'assistant').flatMap((m) => sentencesOf(m.content));
  const asked = new Set(words(question).filter((w) => w.length > 2));
  const scored = context
    .map((sentence, i) => ({ sentence, i, score: words(sentence).filter((w) => asked.has(w)).length }))
    .filter((s) => s.score > 0)
    .sort((a, b) => b.score - a.score || a.i - b.i);
  // Sentences well behind the best match are noise ("the capital of France" for Germany).
  const best = scored[0]?.score ?? 0;
  const picked = scored
    .filter((s) => s.score >= best * 0.75)
    .slice(0, MAX_ANSWER_SENTENCES)
    .sort((a, b) => a.i - b.i);
  if (picked.length > 0) return picked.map((s) => s.sentence).join(' ');
  // Text to answer from with nothing on the question: quoting the question back read as an
  // answer (a rag-query whose sources were off the subject answered with its own question).
  if (context.length > 0) return NOTHING_IN_CONTEXT;
  return sentencesOf(question).slice(0, MAX_ANSWER_SENTENCES).join(' ') || question;
}

function truncateWords(text: string, maxTokens: number): string {
  if (countTokens(text) <= maxTokens) return text;
  const out: string[] = [];
  for (const w of text.split(/\s+/)) {
    if (countTokens([...out, w].join(' ')) > maxTokens) break;
    out.push(w);
  }
  // A first word over the limit (Chinese or Japanese has no spaces) is cut by tokens: dropped
  // whole, the answer was empty.
  return out.length > 0 ? out.join(' ') : (chunkByTokens(text, maxTokens)[0] ?? '');
}

/**
 * What one answer may hold. A schema may ask for more than any answer can (`minItems: 1e9`,
 * or 500 string fields each filled with a 1 MB message): unbounded, that took the worker's
 * memory. Past these the answer stops short and fails the schema, as a model's would.
 */
export const INSTANCE_LIMITS = { values: 10_000, chars: 200_000 } as const;

/** The simplest value valid for a JSON Schema, strings filled with `text`, within INSTANCE_LIMITS. */
export function instanceOf(schema: unknown, text: string): unknown {
  let values: number = INSTANCE_LIMITS.values;
  let chars: number = INSTANCE_LIMITS.chars;
  const fill = (max: number, min: number): string => {
    const out = truncate(text, Math.min(max, chars)).padEnd(Math.min(min, chars), '.');
    chars -= out.length;
    return out;
  };
  const of = (schema: unknown): unknown => {
    values--;
    if (!schema || typeof schema !== 'object') return fill(Infinity, 0);
    const s = schema as Record<string, unknown>;
    if ('const' in s) return s.const;
    if ('default' in s) return s.default;
    if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
    for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
      const list = s[k];
      if (Array.isArray(list) && list.length > 0) {
        if (k !== 'allOf') return of(list[0]);
        return Object.assign({}, ...list.map(of).filter((v) => v && typeof v === 'object'));
      }
    }
    const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? s.type[0]) : s.type;
    switch (type) {
      case 'object':
      case undefined: {
        const props = (s.properties ?? {}) as Record<string, unknown>;
        if (type === undefined && !s.properties) return fill(Infinity, 0);
        return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, of(v)]));
      }
      case 'array': {
        const n = typeof s.minItems === 'number' ? s.minItems : 0;
        const items: unknown[] = [];
        while (items.length < n && values > 0) items.push(of(s.items));
        return items;
      }
      case 'string':
        return fill(typeof s.maxLength === 'number' ? s.maxLength : Infinity, typeof s.minLength === 'number' ? s.minLength : 0);
      case 'integer':
      case 'number':
        return typeof s.minimum === 'number' ? (type === 'integer' ? Math.ceil(s.minimum) : s.minimum) : 0;
      case 'boolean':
        return false;
      case 'null':
        return null;
      default:
        return fill(Infinity, 0);
    }
  };
  return of(schema);
}

// FNV-1a, 32 bit: a fast, stable string hash (the same vector on every machine and version).
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Hashed features: words (weight 1), word bigrams (1), character trigrams (0.5); signed, L2-normalized. */
export function localEmbedding(text: string): number[] {
  const v = new Float64Array(LOCAL_EMBED_DIM);
  const add = (feature: string, weight: number) => {
    const h = fnv1a(feature);
    v[h % LOCAL_EMBED_DIM]! += h & 0x80000000 ? -weight : weight;
  };
  const ws = words(text);
  ws.forEach((w, i) => {
    add(`w:${w}`, 1);
    if (i > 0) add(`b:${ws[i - 1]} ${w}`, 1);
    const padded = ` ${w} `;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.5);
  });
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return Array.from(v, (x) => (norm > 0 ? x / norm : 0));
}

/** Cosine similarity; for L2-normalized vectors, their dot product. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
