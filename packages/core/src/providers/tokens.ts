/**
 * Token counting with tiktoken. The WASM module and each encoding load on first use, so a
 * process that never counts (the dashboard) never pays for them.
 */
import { createRequire } from 'node:module';
import type { Tiktoken, TiktokenEncoding } from 'tiktoken';
import type { ChatMessage } from './types.ts';

type TiktokenModule = typeof import('tiktoken');
let mod: TiktokenModule | undefined;
const encoders = new Map<TiktokenEncoding, Tiktoken>();

function encoder(name: TiktokenEncoding): Tiktoken {
  mod ??= createRequire(import.meta.url)('tiktoken') as TiktokenModule;
  let enc = encoders.get(name);
  if (!enc) {
    enc = mod.get_encoding(name);
    encoders.set(name, enc);
  }
  return enc;
}

/** The encoding a model uses: o200k for the GPT-4o generation and later, cl100k otherwise. */
export function encodingFor(model = ''): TiktokenEncoding {
  const m = model.includes(':') ? model.slice(model.indexOf(':') + 1) : model;
  return /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o)/.test(m) ? 'o200k_base' : 'cl100k_base';
}

export function countTokens(text: string, model?: string): number {
  if (text.length === 0) return 0;
  return encoder(encodingFor(model)).encode_ordinary(text).length;
}

/**
 * Prompt tokens of a chat request, per OpenAI's published recipe: 3 tokens of framing per
 * message and 3 that prime the reply. Close to what the API reports; used to reserve limiter
 * capacity and estimate cost before a call, corrected by the reported usage after it.
 */
export function countChatTokens(messages: ChatMessage[], model?: string): number {
  let n = 3;
  for (const m of messages) n += 3 + countTokens(m.content, model) + 1;
  return n;
}

/**
 * Splits text into chunks of at most `maxTokens`, on sentence boundaries where it can
 * (a sentence longer than the limit is cut by tokens).
 */
export function chunkByTokens(text: string, maxTokens: number, model?: string): string[] {
  if (maxTokens < 1) throw new Error('maxTokens must be ≥ 1');
  const enc = encoder(encodingFor(model));
  const sentences = text.match(/[^.!?\n]+(?:[.!?]+|\n+|$)\s*/g) ?? [];
  const chunks: string[] = [];
  let current = '';
  let currentTokens = 0;
  const push = () => {
    if (current.trim()) chunks.push(current.trim());
    current = '';
    currentTokens = 0;
  };
  const decoder = new TextDecoder();
  for (const sentence of sentences) {
    const ids = enc.encode_ordinary(sentence);
    if (ids.length > maxTokens) {
      push();
      for (let i = 0; i < ids.length; i += maxTokens) chunks.push(decoder.decode(enc.decode(ids.slice(i, i + maxTokens))).trim());
      continue;
    }
    if (currentTokens + ids.length > maxTokens) push();
    current += sentence;
    currentTokens += ids.length;
  }
  push();
  return chunks.filter(Boolean);
}

/** What handlers get as `ctx.tokens`. */
export interface Tokens {
  count(text: string, model?: string): number;
  countChat(messages: ChatMessage[], model?: string): number;
  chunk(text: string, maxTokens: number, model?: string): string[];
}

export const tokens: Tokens = { count: countTokens, countChat: countChatTokens, chunk: chunkByTokens };
