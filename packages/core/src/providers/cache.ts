/**
 * Answer caches, per tenant (one tenant's prompts never answer another's).
 * - exact: Redis, keyed by a hash of provider, model, prompt version, messages and
 *   parameters; with a TTL.
 * - semantic: a tenant's recent answers for the same model, parameters and system prompt,
 *   compared by embedding: the best one with cosine ≥ the threshold (0.92) answers. Kept in
 *   Redis for now (a bounded list scanned per lookup); it moves to pgvector with the vector
 *   tables.
 */
import type { Redis } from 'ioredis';
import { hashJson } from '../ids.ts';
import { cosine } from './local.ts';
import type { TokenUsage } from './types.ts';

export interface CachedAnswer {
  content: string;
  /** The model reference that produced it. */
  model: string;
  usage: TokenUsage;
  createdAt: string;
}

export interface CacheOptions {
  ttlMs: number;
  semanticThreshold: number;
  /** Entries kept per (tenant, scope) for the semantic scan. */
  semanticMaxEntries?: number;
}

interface SemanticEntry {
  /** Float32 vector, base64. */
  v: string;
  a: CachedAnswer;
  /** Expiry, ms since epoch: entries share one list, so each carries its own. */
  exp: number;
}

export class ModelCache {
  private readonly maxEntries: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly opts: CacheOptions,
  ) {
    this.maxEntries = opts.semanticMaxEntries ?? 200;
  }

  /** The exact key of a request: everything that shapes the answer. */
  exactKey(tenantId: string, request: unknown): string {
    return `${this.prefix}:cache:x:${tenantId}:${hashJson(request)}`;
  }

  semanticKey(tenantId: string, scope: unknown): string {
    return `${this.prefix}:cache:s:${tenantId}:${hashJson(scope)}`;
  }

  async getExact(key: string): Promise<CachedAnswer | undefined> {
    const raw = await this.redis.get(key);
    return raw ? (JSON.parse(raw) as CachedAnswer) : undefined;
  }

  async setExact(key: string, answer: CachedAnswer): Promise<void> {
    await this.redis.set(key, JSON.stringify(answer), 'PX', this.opts.ttlMs);
  }

  /** The closest earlier answer at or above the threshold, with its score. */
  async getSemantic(key: string, vector: number[]): Promise<{ answer: CachedAnswer; score: number } | undefined> {
    const raw = await this.redis.lrange(key, 0, -1);
    const now = Date.now();
    let best: { answer: CachedAnswer; score: number } | undefined;
    for (const item of raw) {
      const e = JSON.parse(item) as SemanticEntry;
      if (e.exp < now) continue;
      const score = cosine(vector, decode(e.v));
      if (score >= this.opts.semanticThreshold && (!best || score > best.score)) best = { answer: e.a, score };
    }
    return best;
  }

  async setSemantic(key: string, vector: number[], answer: CachedAnswer): Promise<void> {
    const entry: SemanticEntry = { v: encode(vector), a: answer, exp: Date.now() + this.opts.ttlMs };
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, this.maxEntries - 1)
      .pexpire(key, this.opts.ttlMs)
      .exec();
  }
}

const encode = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');
// Copied out of the Buffer: pooled Buffers need not start on a 4-byte boundary.
const decode = (s: string) => new Float32Array(new Uint8Array(Buffer.from(s, 'base64')).buffer);
