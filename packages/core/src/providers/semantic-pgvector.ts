/**
 * The semantic cache in PostgreSQL with pgvector (table `semantic_cache`, drizzle-vector/0002):
 * the tenant's closest unexpired answer for the scope, by cosine distance on an HNSW index.
 * Expired rows are never returned and are pruned, a bounded batch at each write.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { hashJson, newId } from '../ids.ts';
import type { CachedAnswer, CacheOptions, SemanticCache, SemanticHit, SemanticQuery } from './cache.ts';

// Expired rows deleted per write: enough to keep up with the writes (each adds one row),
// small enough that no write waits on a long delete.
const PRUNE_BATCH = 100;

const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;

/** A vector pgvector can compare by cosine: finite dimensions and not all zero. */
const usable = (v: number[]) => v.length > 0 && v.some((x) => Number.isFinite(x) && x !== 0);

export class PgVectorSemanticCache implements SemanticCache {
  readonly backend = 'pgvector' as const;

  constructor(
    private readonly db: Database,
    readonly opts: CacheOptions,
  ) {}

  async get(q: SemanticQuery): Promise<SemanticHit | undefined> {
    if (!usable(q.vector)) return undefined;
    const dims = q.vector.length;
    // The cast matches the partial HNSW index of that dimension (as chunks do in documents/store.ts).
    const type = sql.raw(`vector(${dims})`);
    const target = sql`${vectorLiteral(q.vector)}::${type}`;
    const rows = await this.db.query<{ answer: CachedAnswer | string; score: number | string }>(sql`
      SELECT answer, 1 - (embedding::${type} <=> ${target}) AS score
      FROM semantic_cache
      WHERE tenant_id = ${q.tenantId} AND scope_hash = ${hashJson(q.scope)}
        AND embedding_model = ${q.embeddingModel} AND embedding_dims = ${dims} AND expires_at > now()
      ORDER BY embedding::${type} <=> ${target}
      LIMIT 1`);
    const row = rows[0];
    if (!row) return undefined;
    const score = Number(row.score);
    // The closest row decides: if it is below the threshold, every other one is too.
    if (!(score >= this.opts.semanticThreshold)) return undefined;
    const answer = typeof row.answer === 'string' ? (JSON.parse(row.answer) as CachedAnswer) : row.answer;
    return { answer, score };
  }

  async set(q: SemanticQuery, answer: CachedAnswer): Promise<void> {
    if (!usable(q.vector)) return;
    // Expiry on the database clock, the clock `get` compares with.
    await this.db.query(sql`
      INSERT INTO semantic_cache (id, tenant_id, scope_hash, embedding_model, embedding_dims, embedding, answer, expires_at)
      VALUES (${newId()}, ${q.tenantId}, ${hashJson(q.scope)}, ${q.embeddingModel}, ${q.vector.length},
        ${vectorLiteral(q.vector)}::vector, ${JSON.stringify(answer)}::jsonb,
        now() + ${this.opts.ttlMs}::double precision * interval '1 millisecond')`);
    await this.prune();
  }

  /** Deletes up to PRUNE_BATCH expired rows (any tenant), oldest first; returns how many. */
  async prune(): Promise<number> {
    const rows = await this.db.query<{ id: string }>(sql`
      DELETE FROM semantic_cache WHERE id IN (
        SELECT id FROM semantic_cache WHERE expires_at <= now() ORDER BY expires_at LIMIT ${PRUNE_BATCH})
      RETURNING id`);
    return rows.length;
  }
}
