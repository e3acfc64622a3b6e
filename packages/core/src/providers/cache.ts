/**
 * Answer caches, per tenant (one tenant's prompts never answer another's).
 * - exact: Redis, keyed by a hash of provider, model, prompt version, messages and
 *   parameters; with a TTL.
 * - semantic: a tenant's earlier answers for the same scope (model, parameters, system
 *   prompt), compared by embedding: the closest one with cosine ≥ the threshold (0.92)
 *   answers. Two stores behind `SemanticCache`: pgvector (semantic-pgvector.ts) where the
 *   vector tables exist, else the bounded Redis list below; runtime.ts picks one.
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
  /** Entries kept per (tenant, scope) for the Redis semantic scan. */
  semanticMaxEntries?: number;
}

/** The exact cache: one Redis key per request. */
export class ModelCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly opts: CacheOptions,
  ) {}

  /** The exact key of a request: everything that shapes the answer. */
  exactKey(tenantId: string, request: unknown): string {
    return `${this.prefix}:cache:x:${tenantId}:${hashJson(request)}`;
  }

  async getExact(key: string): Promise<CachedAnswer | undefined> {
    const raw = await this.redis.get(key);
    return raw ? (JSON.parse(raw) as CachedAnswer) : undefined;
  }

  async setExact(key: string, answer: CachedAnswer): Promise<void> {
    await this.redis.set(key, JSON.stringify(answer), 'PX', this.opts.ttlMs);
  }
}

/** One semantic lookup or write: the question's embedding within a tenant and scope. */
export interface SemanticQuery {
  tenantId: string;
  /** What must match besides the question: chat model, prompt version, parameters, system prompt. */
  scope: unknown;
  /** The model that made `vector` (vectors of two models never compare). */
  embeddingModel: string;
  vector: number[];
}

export interface SemanticHit {
  answer: CachedAnswer;
  /** Cosine similarity, ≥ the threshold. */
  score: number;
}

/** The semantic cache, whichever store holds it. */
export interface SemanticCache {
  readonly backend: 'pgvector' | 'redis';
  /** The closest unexpired answer of the tenant and scope, if its cosine is ≥ the threshold. */
  get(q: SemanticQuery): Promise<SemanticHit | undefined>;
  /** Stores an answer for `ttlMs`. */
  set(q: SemanticQuery, answer: CachedAnswer): Promise<void>;
}

interface SemanticEntry {
  /** Float32 vector, base64. */
  v: string;
  a: CachedAnswer;
  /** Expiry, ms since epoch: entries share one list, so each carries its own. */
  exp: number;
}

/**
 * The semantic cache in Redis, for deployments without pgvector: a bounded list per (tenant,
 * scope, embedding model), scanned on each lookup.
 */
export class RedisSemanticCache implements SemanticCache {
  readonly backend = 'redis' as const;
  private readonly maxEntries: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly opts: CacheOptions,
  ) {
    // A linear scan per lookup: 200 short vectors keep it well under a millisecond.
    this.maxEntries = opts.semanticMaxEntries ?? 200;
  }

  private key(q: SemanticQuery): string {
    return `${this.prefix}:cache:s:${q.tenantId}:${hashJson({ scope: q.scope, embeddingModel: q.embeddingModel })}`;
  }

  async get(q: SemanticQuery): Promise<SemanticHit | undefined> {
    const raw = await this.redis.lrange(this.key(q), 0, -1);
    const now = Date.now();
    let best: SemanticHit | undefined;
    for (const item of raw) {
      const e = JSON.parse(item) as SemanticEntry;
      if (e.exp < now) continue;
      const score = cosine(q.vector, decode(e.v));
      if (score >= this.opts.semanticThreshold && (!best || score > best.score)) best = { answer: e.a, score };
    }
    return best;
  }

  async set(q: SemanticQuery, answer: CachedAnswer): Promise<void> {
    const key = this.key(q);
    const entry: SemanticEntry = { v: encode(q.vector), a: answer, exp: Date.now() + this.opts.ttlMs };
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
