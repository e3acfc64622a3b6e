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

// tiktoken's BPE takes time quadratic in the length of a pre-tokenized piece: 100,000 "a"s (one
// piece) took 9.5 s and 100,000 "中" 75 s, on the event loop of the API that counts a submit's
// tokens. A piece that long lies in a run of that many non-space (or space) characters; text
// with such a run is encoded in windows of at most WINDOW characters, cut before a word where
// one is near, so ordinary text still counts exactly and a run is cut where it must be.
const WINDOW = 128;
const LONG_RUN = new RegExp(`\\S{${WINDOW},}|\\s{${WINDOW},}`);
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;

/** The text's token ids, in bounded time. */
function encodeOrdinary(enc: Tiktoken, text: string): Uint32Array {
  if (!LONG_RUN.test(text)) return enc.encode_ordinary(text);
  const ids: number[] = [];
  for (let start = 0; start < text.length; ) {
    let cut = Math.min(text.length, start + WINDOW);
    if (cut < text.length) {
      // Before a space that follows a non-space: " word" stays one piece, as unsplit.
      let word = cut;
      while (word > start + WINDOW / 2 && !(isSpace(text.charCodeAt(word)) && !isSpace(text.charCodeAt(word - 1)))) word--;
      if (word > start + WINDOW / 2) cut = word;
      else if (text.charCodeAt(cut) >= 0xdc00 && text.charCodeAt(cut) <= 0xdfff) cut--; // not inside a surrogate pair
    }
    for (const id of enc.encode_ordinary(text.slice(start, cut))) ids.push(id);
    start = cut;
  }
  return Uint32Array.from(ids);
}

export function countTokens(text: string, model?: string): number {
  if (text.length === 0) return 0;
  return encodeOrdinary(encoder(encodingFor(model)), text).length;
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
 * Sentences, each with its end mark and the space after it (CJK marks end sentences too). Every
 * character is in one: marks that start a sentence (`.NET`, `...and then`, Markdown's `![`)
 * or stand alone (`???`) were dropped, since a match had to start with text.
 */
export const SENTENCES = /[.!?。！？]*[^.!?。！？\n]+(?:[.!?。！？]+|\n+|$)\s*|[.!?。！？\n]+\s*/g;

/**
 * Splits text into chunks of at most `maxTokens`, on sentence boundaries where it can
 * (a sentence longer than the limit is cut by tokens, between characters).
 */
export function chunkByTokens(text: string, maxTokens: number, model?: string): string[] {
  if (maxTokens < 1) throw new Error('maxTokens must be ≥ 1');
  const enc = encoder(encodingFor(model));
  const sentences = text.match(SENTENCES) ?? [];
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
    const ids = encodeOrdinary(enc, sentence);
    if (ids.length > maxTokens) {
      push();
      for (let i = 0; i < ids.length; ) {
        const [end, bytes] = windowEnd(enc, ids, i, Math.min(i + maxTokens, ids.length));
        chunks.push(decoder.decode(bytes).trim());
        i = end;
      }
      continue;
    }
    if (currentTokens + ids.length > maxTokens) push();
    current += sentence;
    currentTokens += ids.length;
  }
  push();
  return chunks.filter(Boolean);
}

/**
 * Where a window of tokens `[start, end)` may end, and its bytes: not inside a character.
 * Byte-level BPE splits some characters (CJK, emoji) across tokens, and a window decoded alone
 * turned each half into U+FFFD. A character is at most 4 bytes, so at most 3 tokens go back.
 */
function windowEnd(enc: Tiktoken, ids: Uint32Array, start: number, end: number): [number, Uint8Array] {
  for (let j = end; j > start; j--) {
    const bytes = enc.decode(ids.slice(start, j));
    if (endsOnCharacter(bytes)) return [j, bytes];
  }
  return [end, enc.decode(ids.slice(start, end))];
}

/** Whether UTF-8 `bytes` end with a whole character (the last lead byte has all its continuation bytes). */
function endsOnCharacter(bytes: Uint8Array): boolean {
  let k = bytes.length - 1;
  let continuation = 0;
  while (k >= 0 && continuation < 4 && (bytes[k]! & 0xc0) === 0x80) {
    k--;
    continuation++;
  }
  if (k < 0) return continuation === 0;
  const lead = bytes[k]!;
  const needed = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return needed === continuation;
}

/** What handlers get as `ctx.tokens`. */
export interface Tokens {
  count(text: string, model?: string): number;
  countChat(messages: ChatMessage[], model?: string): number;
  chunk(text: string, maxTokens: number, model?: string): string[];
}

export const tokens: Tokens = { count: countTokens, countChat: countChatTokens, chunk: chunkByTokens };
