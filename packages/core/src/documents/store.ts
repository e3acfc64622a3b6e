/**
 * The vector tables (drizzle-vector/): documents and their embedded chunks. Every read is
 * filtered by tenant in SQL; retrieval also by collection, embedding model and access level.
 */
import { createHash } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { type Database, rowsOf } from '../db/client.ts';
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

export const vectorLiteral = (v: number[]) => `[${v.map((x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;
// One parameter whatever the list's length: the statement text (a prepared statement, see
// db/client.ts) stays the same for every query.
export const list = (values: string[]) => sql`SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)`;

export interface DocumentUpsert {
  tenantId: string;
  id: string;
  collection: string;
  title: string | null;
  contentHash: string;
  metadata: Record<string, unknown> | null;
  accessLevel: string;
  /** The new version's chunks: their content hashes, by index. */
  chunkHashes: string[];
  /** The embedding model the chunks are to have (the collection's). */
  model: string;
  tokens: number;
  /** The ingest writing it: from now on only its chunk writes land (upsertChunks). */
  ingestJobId: string;
}

/**
 * Plans a document's new version: writes its row, keeps (and relabels) the stored chunks that
 * the new version has unchanged (same index, text and model), and deletes the rest. Returns the
 * indexes kept; the others are this ingest's to embed.
 *
 * A changed chunk is deleted, not relabelled: its old text under the new access level or
 * collection would be served there until the new text is embedded, and for ever if that
 * fails (a restricted memo re-ingested as public showed its old text to public queries).
 *
 * One transaction, whose row write comes first: it waits for a chunk write of an older ingest
 * under way (that holds the row FOR SHARE), and its lock keeps every other ingest's row write
 * and chunk write out until the chunks are settled, so an older plan cannot delete or relabel
 * what a newer one kept. Each later statement reads what committed before it.
 */
export async function upsertDocument(db: Database, d: DocumentUpsert): Promise<number[]> {
  const meta = d.metadata === null ? null : JSON.stringify(d.metadata);
  const wanted = JSON.stringify(d.chunkHashes.map((h, i) => ({ i, h })));
  return db.orm.transaction(async (tx) => {
    await tx.execute(sql`
      INSERT INTO documents (tenant_id, id, collection, title, content_hash, metadata, access_level, chunks, tokens, ingest_job_id)
      VALUES (${d.tenantId}, ${d.id}, ${d.collection}, ${d.title}, ${d.contentHash}, ${meta}::jsonb, ${d.accessLevel},
        ${d.chunkHashes.length}, ${d.tokens}, ${d.ingestJobId})
      ON CONFLICT (tenant_id, id) DO UPDATE SET collection = excluded.collection, title = excluded.title,
        content_hash = excluded.content_hash, metadata = excluded.metadata, access_level = excluded.access_level,
        chunks = excluded.chunks, tokens = excluded.tokens, ingest_job_id = excluded.ingest_job_id, updated_at = now()`);
    const unchanged = sql`EXISTS (SELECT 1 FROM jsonb_to_recordset(${wanted}::jsonb) AS w(i int, h text)
      WHERE w.i = chunks.chunk_index AND w.h = chunks.content_hash) AND chunks.embedding_model = ${d.model}`;
    await tx.execute(sql`
      DELETE FROM chunks WHERE tenant_id = ${d.tenantId} AND document_id = ${d.id} AND NOT (${unchanged})`);
    const kept = await tx.execute(sql`
      UPDATE chunks SET collection = ${d.collection}, metadata = ${meta}::jsonb, access_level = ${d.accessLevel}
      WHERE tenant_id = ${d.tenantId} AND document_id = ${d.id}
      RETURNING chunk_index`);
    return rowsOf<{ chunk_index: number }>(kept).map((r) => r.chunk_index);
  });
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
  /** The ingest writing it: the row lands only while that ingest owns the document (upsertDocument). */
  ingestJobId: string;
}

/**
 * One statement per batch; a chunk keeps its id across re-ingests. The rows are written only
 * while their model is still the collection's active model, checked under a share lock on the
 * collection row (which embed-refresh's switch updates): false, with nothing written, when the
 * model changed meanwhile, so a batch embedded with the old model never lands after the switch.
 * Rows of a document deleted meanwhile (DELETE /v1/documents/:id during its ingest), or
 * planned since by another ingest, are skipped: the delete or the newer ingest stands, and this
 * one goes on with its other documents.
 */
export async function upsertChunks(db: Database, rows: ChunkUpsert[]): Promise<boolean> {
  const first = rows[0];
  if (!first) return true;
  if (
    rows.some(
      (r) =>
        r.tenantId !== first.tenantId ||
        r.collection !== first.collection ||
        r.model !== first.model ||
        r.ingestJobId !== first.ingestJobId,
    )
  )
    throw new Error('upsertChunks: one tenant, collection, model and ingest per batch');
  // INSERT … SELECT FROM VALUES types the columns from the VALUES list: numbers need casts.
  const values: SQL[] = rows.map(
    (r) => sql`(${newId()}, ${r.tenantId}, ${r.collection}, ${r.documentId}, ${r.index}::int, ${r.text},
      ${r.tokens}::int, ${r.hash}, ${r.metadata === null ? null : JSON.stringify(r.metadata)}::jsonb, ${r.accessLevel}, ${r.model}, ${r.embedding.length}::int,
      ${vectorLiteral(r.embedding)}::vector)`,
  );
  const written = await db.query<{ active: boolean }>(sql`
    WITH active AS (
      SELECT 1 FROM collections WHERE tenant_id = ${first.tenantId} AND name = ${first.collection}
        AND embedding_model = ${first.model} FOR SHARE
    ), owned AS (
      SELECT id FROM documents WHERE tenant_id = ${first.tenantId} AND id IN (${list([...new Set(rows.map((r) => r.documentId))])})
        AND ingest_job_id = ${first.ingestJobId} FOR SHARE
    ), ins AS (
      INSERT INTO chunks (id, tenant_id, collection, document_id, chunk_index, text, token_count, content_hash, metadata,
        access_level, embedding_model, embedding_dims, embedding)
      SELECT * FROM (VALUES ${sql.join(values, sql`, `)}) AS v(id, tenant_id, collection, document_id, chunk_index, text,
        token_count, content_hash, metadata, access_level, embedding_model, embedding_dims, embedding)
      WHERE EXISTS (SELECT 1 FROM active) AND v.document_id IN (SELECT id FROM owned)
      ON CONFLICT (tenant_id, document_id, chunk_index) DO UPDATE SET text = excluded.text, token_count = excluded.token_count,
        content_hash = excluded.content_hash, metadata = excluded.metadata, access_level = excluded.access_level,
        collection = excluded.collection, embedding_model = excluded.embedding_model,
        embedding_dims = excluded.embedding_dims, embedding = excluded.embedding, updated_at = now()
      RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM active) AS active`);
  return written[0]?.active === true;
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

/**
 * Top-k by cosine similarity among the tenant's chunks of one model (never two models mixed),
 * and only while that model is the collection's active one: a query racing an embed-refresh
 * switch finds nothing rather than compare its question vector with the other model's.
 */
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
      AND EXISTS (SELECT 1 FROM collections k WHERE k.tenant_id = ${q.tenantId} AND k.name = ${q.collection}
        AND k.embedding_model = ${q.model})
      ${q.documentIds ? sql`AND document_id IN (${list(q.documentIds)})` : sql``}
    ORDER BY embedding::${type} <=> ${target}
    LIMIT ${q.topK}`);
  // A zero vector (the local embedder's answer for text without a word) has no cosine distance:
  // PostgreSQL says NaN, which sorts after every number, so dropping those rows loses no match.
  return rows
    .filter((r) => Number.isFinite(Number(r.score)))
    .map((r) => ({
      documentId: r.document_id,
      chunkId: r.id,
      chunkIndex: Number(r.chunk_index),
      score: Math.round(Number(r.score) * 1e6) / 1e6,
      text: r.text,
    }));
}

/**
 * Of `hits`, the chunk ids still stored as they were read: the same text, in the collection,
 * of an allowed access level and a named document. A retried `rag-query` replays the retrieval
 * of its first attempt; meanwhile a document may have been deleted, re-ingested, or made
 * `restricted`, and the retry sent its old text to the model and cited it.
 */
export async function chunksStillThere(
  db: Database,
  q: Pick<SearchQuery, 'tenantId' | 'collection' | 'accessLevels' | 'documentIds'>,
  hits: Pick<SearchHit, 'chunkId' | 'text'>[],
): Promise<Set<string>> {
  if (hits.length === 0) return new Set();
  const rows = await db.query<{ id: string; hash: string }>(sql`
    SELECT id, md5(text) AS hash FROM chunks
    WHERE tenant_id = ${q.tenantId} AND collection = ${q.collection} AND id IN (${list(hits.map((h) => h.chunkId))})
      AND access_level IN (${list(q.accessLevels)})
      ${q.documentIds ? sql`AND document_id IN (${list(q.documentIds)})` : sql``}`);
  const stored = new Map(rows.map((r) => [r.id, r.hash]));
  const md5 = (text: string) => createHash('md5').update(text).digest('hex');
  return new Set(hits.filter((h) => stored.get(h.chunkId) === md5(h.text)).map((h) => h.chunkId));
}

/** A stored document as the documents API shows it. */
export interface DocumentInfo {
  id: string;
  collection: string;
  title: string | null;
  accessLevel: string;
  metadata: Record<string, unknown> | null;
  contentHash: string;
  /** Chunks the document was cut into at its last ingest. */
  chunks: number;
  /** Chunks stored with an embedding now (fewer than `chunks` while an ingest is running). */
  embeddedChunks: number;
  tokens: number;
  /** Embedding models of its stored chunks (two while an embedding refresh is under way). */
  embeddingModels: string[];
  createdAt: string;
  updatedAt: string;
}

interface DocumentRow {
  id: string;
  collection: string;
  title: string | null;
  access_level: string;
  metadata: Record<string, unknown> | null;
  content_hash: string;
  chunks: number;
  embedded_chunks: number | string;
  tokens: number;
  embedding_models: string[] | null;
  created_at: string;
  updated_at: string | Date;
}

// created_at as JSON text keeps its microseconds: the list cursor compares it exactly.
const documentColumns = sql`d.id, d.collection, d.title, d.access_level, d.metadata, d.content_hash, d.chunks, d.tokens,
  to_json(d.created_at)#>>'{}' AS created_at, d.updated_at,
  (SELECT count(*) FROM chunks c WHERE c.tenant_id = d.tenant_id AND c.document_id = d.id) AS embedded_chunks,
  (SELECT jsonb_agg(DISTINCT c.embedding_model) FROM chunks c WHERE c.tenant_id = d.tenant_id AND c.document_id = d.id)
    AS embedding_models`;

const toDocumentInfo = (r: DocumentRow): DocumentInfo => ({
  id: r.id,
  collection: r.collection,
  title: r.title,
  accessLevel: r.access_level,
  metadata: r.metadata,
  contentHash: r.content_hash,
  chunks: Number(r.chunks),
  embeddedChunks: Number(r.embedded_chunks),
  tokens: Number(r.tokens),
  embeddingModels: (r.embedding_models ?? []).sort(),
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function getDocument(db: Database, tenantId: string, id: string): Promise<DocumentInfo | undefined> {
  const rows = await db.query<DocumentRow>(
    sql`SELECT ${documentColumns} FROM documents d WHERE d.tenant_id = ${tenantId} AND d.id = ${id}`,
  );
  return rows[0] && toDocumentInfo(rows[0]);
}

export interface DocumentListFilter {
  collection?: string | undefined;
  limit: number;
  /** From the previous page's `nextCursor`. */
  cursor?: string | undefined;
}

const encodeCursor = (createdAt: string, id: string) => Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && isCursorTime(v[0])) {
      return [v[0], v[1]];
    }
  } catch {}
  throw new SpoolError('invalid_cursor', 'cursor is not a nextCursor this API returned', { status: 422 });
}

// `to_json` of a timestamptz, the only form encodeCursor writes.
const CURSOR_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?([+-]\d{2}(:\d{2})?|Z)$/;

/** A date PostgreSQL takes: `Date.parse` also takes February 30th, which PostgreSQL refuses. */
function isCursorTime(text: string): boolean {
  const m = CURSOR_TIME.exec(text);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  return y >= 1000 && day.getUTCMonth() === mo - 1 && day.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
}

/** Newest first; keyset pages on (created_at, id): a re-ingest (which moves updated_at) never reorders pages. */
export async function listDocuments(
  db: Database,
  tenantId: string,
  f: DocumentListFilter,
): Promise<{ data: DocumentInfo[]; nextCursor: string | null }> {
  const after = f.cursor ? decodeCursor(f.cursor) : undefined;
  const rows = await db.query<DocumentRow>(sql`
    SELECT ${documentColumns} FROM documents d
    WHERE d.tenant_id = ${tenantId}
      ${f.collection ? sql`AND d.collection = ${f.collection}` : sql``}
      ${after ? sql`AND (d.created_at, d.id) < (${after[0]}::timestamptz, ${after[1]})` : sql``}
    ORDER BY d.created_at DESC, d.id DESC LIMIT ${f.limit + 1}`);
  const page = rows.slice(0, f.limit);
  const last = page.at(-1);
  return {
    data: page.map(toDocumentInfo),
    nextCursor: rows.length > f.limit && last ? encodeCursor(last.created_at, last.id) : null,
  };
}

/** Deletes the document and (in the same statement) its chunks; undefined when the tenant has no such document. */
export async function deleteDocument(db: Database, tenantId: string, id: string): Promise<{ chunks: number } | undefined> {
  const rows = await db.query<{ id: string | null; chunks: number | string }>(sql`
    WITH c AS (DELETE FROM chunks WHERE tenant_id = ${tenantId} AND document_id = ${id} RETURNING 1),
      d AS (DELETE FROM documents WHERE tenant_id = ${tenantId} AND id = ${id} RETURNING id)
    SELECT (SELECT id FROM d) AS id, (SELECT count(*) FROM c) AS chunks`);
  const row = rows[0];
  return row?.id ? { chunks: Number(row.chunks) } : undefined;
}

/**
 * A document's chunk texts in order and the chunk count its last ingest planned (more than
 * the texts while that ingest is still embedding), or undefined when the tenant has no such document.
 */
export async function documentChunkTexts(
  db: Database,
  tenantId: string,
  id: string,
): Promise<{ expected: number; texts: string[] } | undefined> {
  const rows = await db.query<{ expected: number; text: string | null }>(sql`
    SELECT d.chunks AS expected, c.text FROM documents d
    LEFT JOIN chunks c ON c.tenant_id = d.tenant_id AND c.document_id = d.id
    WHERE d.tenant_id = ${tenantId} AND d.id = ${id}
    ORDER BY c.chunk_index`);
  if (rows.length === 0) return undefined;
  return { expected: Number(rows[0]!.expected), texts: rows.flatMap((r) => (r.text === null ? [] : [r.text])) };
}

/** Whether the tenant has the document (a cheap check at submit). */
export async function documentExists(db: Database, tenantId: string, id: string): Promise<boolean> {
  const rows = await db.query(sql`SELECT 1 FROM documents WHERE tenant_id = ${tenantId} AND id = ${id}`);
  return rows.length > 0;
}
