/**
 * The vector tables (drizzle-vector/): documents and their embedded chunks. Every read is
 * filtered by tenant in SQL; retrieval also by collection, embedding model and access level.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { newId } from '../ids.ts';

export function assertVectors(db: Database): void {
  if (!db.vectors) {
    throw new SpoolError(
      'vectors_unavailable',
      'this deployment has no vector storage (the PostgreSQL server lacks the pgvector extension): document job types are off',
      { status: 422, retryable: false },
    );
  }
}

const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;
const list = (values: string[]) =>
  sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  );

export interface DocumentUpsert {
  tenantId: string;
  id: string;
  collection: string;
  title: string | null;
  contentHash: string;
  metadata: Record<string, unknown> | null;
  accessLevel: string;
  chunks: number;
  tokens: number;
}

/** Writes the document row, drops chunks past its new length, and relabels the chunks it keeps. */
export async function upsertDocument(db: Database, d: DocumentUpsert): Promise<void> {
  const meta = d.metadata === null ? null : JSON.stringify(d.metadata);
  await db.query(sql`
    INSERT INTO documents (tenant_id, id, collection, title, content_hash, metadata, access_level, chunks, tokens)
    VALUES (${d.tenantId}, ${d.id}, ${d.collection}, ${d.title}, ${d.contentHash}, ${meta}::jsonb, ${d.accessLevel}, ${d.chunks}, ${d.tokens})
    ON CONFLICT (tenant_id, id) DO UPDATE SET collection = excluded.collection, title = excluded.title,
      content_hash = excluded.content_hash, metadata = excluded.metadata, access_level = excluded.access_level,
      chunks = excluded.chunks, tokens = excluded.tokens, updated_at = now()`);
  await db.query(
    sql`DELETE FROM chunks WHERE tenant_id = ${d.tenantId} AND document_id = ${d.id} AND chunk_index >= ${d.chunks}`,
  );
  await db.query(sql`
    UPDATE chunks SET collection = ${d.collection}, metadata = ${meta}::jsonb, access_level = ${d.accessLevel}
    WHERE tenant_id = ${d.tenantId} AND document_id = ${d.id}`);
}

export interface StoredChunkKey {
  chunk_index: number;
  content_hash: string;
  embedding_model: string;
}

export async function chunkKeys(db: Database, tenantId: string, documentId: string): Promise<StoredChunkKey[]> {
  return db.query<StoredChunkKey>(sql`
    SELECT chunk_index, content_hash, embedding_model FROM chunks
    WHERE tenant_id = ${tenantId} AND document_id = ${documentId}`);
}

export interface ChunkUpsert {
  tenantId: string;
  collection: string;
  documentId: string;
  index: number;
  text: string;
  tokens: number;
  hash: string;
  metadata: Record<string, unknown> | null;
  accessLevel: string;
  model: string;
  embedding: number[];
}

/** One statement per batch; a chunk keeps its id across re-ingests. */
export async function upsertChunks(db: Database, rows: ChunkUpsert[]): Promise<void> {
  if (rows.length === 0) return;
  const values: SQL[] = rows.map(
    (r) => sql`(${newId()}, ${r.tenantId}, ${r.collection}, ${r.documentId}, ${r.index}, ${r.text}, ${r.tokens}, ${r.hash},
      ${r.metadata === null ? null : JSON.stringify(r.metadata)}::jsonb, ${r.accessLevel}, ${r.model}, ${r.embedding.length},
      ${vectorLiteral(r.embedding)}::vector)`,
  );
  await db.query(sql`
    INSERT INTO chunks (id, tenant_id, collection, document_id, chunk_index, text, token_count, content_hash, metadata,
      access_level, embedding_model, embedding_dims, embedding)
    VALUES ${sql.join(values, sql`, `)}
    ON CONFLICT (tenant_id, document_id, chunk_index) DO UPDATE SET text = excluded.text, token_count = excluded.token_count,
      content_hash = excluded.content_hash, metadata = excluded.metadata, access_level = excluded.access_level,
      collection = excluded.collection, embedding_model = excluded.embedding_model,
      embedding_dims = excluded.embedding_dims, embedding = excluded.embedding, updated_at = now()`);
}

export interface SearchQuery {
  tenantId: string;
  collection: string;
  model: string;
  vector: number[];
  topK: number;
  accessLevels: string[];
  documentIds?: string[] | undefined;
}

export interface SearchHit {
  documentId: string;
  chunkId: string;
  chunkIndex: number;
  score: number;
  text: string;
}

/** Top-k by cosine similarity among the tenant's chunks of one model (never two models mixed). */
export async function searchChunks(db: Database, q: SearchQuery): Promise<SearchHit[]> {
  if (q.accessLevels.length === 0 || q.documentIds?.length === 0) return [];
  const dims = q.vector.length;
  if (!Number.isInteger(dims) || dims < 1) return [];
  // The cast matches the partial HNSW index of that dimension (drizzle-vector/0000).
  const type = sql.raw(`vector(${dims})`);
  const target = sql`${vectorLiteral(q.vector)}::${type}`;
  const rows = await db.query<{ id: string; document_id: string; chunk_index: number; text: string; score: number | string }>(sql`
    SELECT id, document_id, chunk_index, text, 1 - (embedding::${type} <=> ${target}) AS score
    FROM chunks
    WHERE tenant_id = ${q.tenantId} AND collection = ${q.collection} AND embedding_model = ${q.model}
      AND embedding_dims = ${dims} AND access_level IN (${list(q.accessLevels)})
      ${q.documentIds ? sql`AND document_id IN (${list(q.documentIds)})` : sql``}
    ORDER BY embedding::${type} <=> ${target}
    LIMIT ${q.topK}`);
  return rows.map((r) => ({
    documentId: r.document_id,
    chunkId: r.id,
    chunkIndex: Number(r.chunk_index),
    score: Math.round(Number(r.score) * 1e6) / 1e6,
    text: r.text,
  }));
}
