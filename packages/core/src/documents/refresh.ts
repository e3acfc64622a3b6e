/**
 * The SQL of `embed-refresh`. A collection's queries only ever see chunks of its one active
 * model (collections.embedding_model, checked inside every search). A refresh therefore:
 *   1. stages the new model's vectors beside the old ones, in `chunk_embeddings`, walking the
 *      chunks by id (the cursor), so queries keep using the old model meanwhile;
 *   2. switches in one statement: staged vectors whose content hash still matches go into
 *      `chunks`, the collection's active model becomes the new one, staging is cleared;
 *   3. sweeps: chunks still on another model (written or changed during 1–2) are embedded with
 *      the new model in place. Until then they are invisible to queries, never mixed in.
 * Ingest writes only while its model is the active one (see upsertChunks), so no write with
 * the old model can land after the switch.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { SpoolError } from '../errors.ts';
import { list, vectorLiteral } from './store.ts';

export interface RefreshScope {
  tenantId: string;
  collection: string;
  /** The new model's name as embeddings report it ("local", "openai:text-embedding-3-small"). */
  model: string;
}

export interface PendingChunk {
  id: string;
  text: string;
  content_hash: string;
}

/**
 * Records the refresh on the collection; the previous model and the chunk count. 404 when the
 * collection is unknown or empty (its documents all deleted: its row stays, and the refresh
 * switched its model over nothing).
 */
export async function beginRefresh(
  db: Database,
  s: RefreshScope,
  jobId: string,
): Promise<{ previousModel: string; total: number }> {
  const rows = await db.query<{ previous: string; total: number | string }>(sql`
    WITH prev AS (SELECT embedding_model FROM collections WHERE tenant_id = ${s.tenantId} AND name = ${s.collection}),
    upd AS (
      UPDATE collections SET refresh_model = ${s.model}, refresh_job_id = ${jobId}, updated_at = now()
      WHERE tenant_id = ${s.tenantId} AND name = ${s.collection}
        AND EXISTS (SELECT 1 FROM chunks WHERE tenant_id = ${s.tenantId} AND collection = ${s.collection})
      RETURNING 1
    )
    SELECT (SELECT embedding_model FROM prev) AS previous,
      (SELECT count(*) FROM chunks WHERE tenant_id = ${s.tenantId} AND collection = ${s.collection}) AS total
    FROM upd`);
  const row = rows[0];
  if (!row) {
    throw new SpoolError('not_found', `collection "${s.collection}" has no documents`, { status: 404, retryable: false });
  }
  return { previousModel: row.previous, total: Number(row.total) };
}

/**
 * The next chunks after `after` (by id: a stable order, and new chunks sort last) that have
 * no staged vector of the new model for their current text. A staged row from an interrupted
 * run of the same batch is not embedded again.
 */
export async function nextToStage(db: Database, s: RefreshScope, after: string, limit: number): Promise<PendingChunk[]> {
  return db.query<PendingChunk>(sql`
    SELECT c.id, c.text, c.content_hash FROM chunks c
    WHERE c.tenant_id = ${s.tenantId} AND c.collection = ${s.collection} AND c.id > ${after}
      AND NOT EXISTS (SELECT 1 FROM chunk_embeddings e WHERE e.chunk_id = c.id AND e.model = ${s.model}
        AND e.content_hash = c.content_hash)
    ORDER BY c.id LIMIT ${limit}`);
}

/**
 * Writes the new model's vectors beside the chunks' current ones (one statement). A chunk
 * deleted since it was read (its document deleted or re-ingested shorter while the batch was
 * being embedded) is skipped: its row would break the foreign key, fail the step and embed the
 * whole batch again.
 */
export async function stageVectors(db: Database, s: RefreshScope, chunks: PendingChunk[], vectors: number[][]): Promise<void> {
  if (chunks.length === 0) return;
  // INSERT … SELECT FROM VALUES types the columns from the VALUES list: numbers need casts.
  const values = chunks.map(
    (c, i) => sql`(${c.id}, ${s.model}, ${s.tenantId}, ${s.collection}, ${c.content_hash}, ${vectors[i]!.length}::int,
      ${vectorLiteral(vectors[i]!)}::vector)`,
  );
  await db.query(sql`
    WITH live AS (
      SELECT id FROM chunks WHERE tenant_id = ${s.tenantId} AND id IN (${list(chunks.map((c) => c.id))}) FOR KEY SHARE
    )
    INSERT INTO chunk_embeddings (chunk_id, model, tenant_id, collection, content_hash, embedding_dims, embedding)
    SELECT * FROM (VALUES ${sql.join(values, sql`, `)}) AS v(chunk_id, model, tenant_id, collection, content_hash,
      embedding_dims, embedding)
    WHERE v.chunk_id IN (SELECT id FROM live)
    ON CONFLICT (chunk_id, model) DO UPDATE SET content_hash = excluded.content_hash,
      embedding_dims = excluded.embedding_dims, embedding = excluded.embedding, created_at = now()`);
}

/**
 * The switch, in one statement (so one transaction): every staged vector whose text is still
 * current replaces the chunk's vector, the collection's active model becomes `model`, and the
 * staging rows are removed. A query sees the collection wholly before or wholly after.
 */
export async function activateRefresh(db: Database, s: RefreshScope): Promise<{ swapped: number }> {
  const rows = await db.query<{ swapped: number | string }>(sql`
    WITH coll AS (
      UPDATE collections SET embedding_model = ${s.model}, refresh_model = NULL, refresh_job_id = NULL, updated_at = now()
      WHERE tenant_id = ${s.tenantId} AND name = ${s.collection} RETURNING 1
    ), swapped AS (
      UPDATE chunks c SET embedding = e.embedding, embedding_model = e.model, embedding_dims = e.embedding_dims, updated_at = now()
      FROM chunk_embeddings e
      WHERE e.chunk_id = c.id AND e.model = ${s.model} AND e.content_hash = c.content_hash
        AND c.tenant_id = ${s.tenantId} AND c.collection = ${s.collection}
      RETURNING 1
    ), cleared AS (
      DELETE FROM chunk_embeddings WHERE tenant_id = ${s.tenantId} AND collection = ${s.collection} AND model = ${s.model}
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM swapped) AS swapped, (SELECT count(*) FROM coll) AS activated, (SELECT count(*) FROM cleared) AS cleared`);
  return { swapped: Number(rows[0]?.swapped ?? 0) };
}

/** Chunks after `after` not on `model` (written or changed while the refresh ran). */
export async function nextStale(db: Database, s: RefreshScope, after: string, limit: number): Promise<PendingChunk[]> {
  return db.query<PendingChunk>(sql`
    SELECT id, text, content_hash FROM chunks
    WHERE tenant_id = ${s.tenantId} AND collection = ${s.collection} AND id > ${after} AND embedding_model <> ${s.model}
    ORDER BY id LIMIT ${limit}`);
}

/**
 * Puts new-model vectors into chunks in place, for texts that did not change meanwhile and
 * while `model` is still the active one (another refresh may have switched again).
 */
export async function replaceVectors(
  db: Database,
  s: RefreshScope,
  chunks: PendingChunk[],
  vectors: number[][],
): Promise<number> {
  if (chunks.length === 0) return 0;
  const values = chunks.map(
    (c, i) => sql`(${c.id}, ${c.content_hash}, ${vectors[i]!.length}::int, ${vectorLiteral(vectors[i]!)}::vector)`,
  );
  const rows = await db.query<{ n: number | string }>(sql`
    WITH active AS (
      SELECT 1 FROM collections WHERE tenant_id = ${s.tenantId} AND name = ${s.collection} AND embedding_model = ${s.model} FOR SHARE
    ), upd AS (
      UPDATE chunks c SET embedding = v.embedding, embedding_model = ${s.model}, embedding_dims = v.dims, updated_at = now()
      FROM (VALUES ${sql.join(values, sql`, `)}) AS v(id, hash, dims, embedding)
      WHERE c.id = v.id AND c.content_hash = v.hash AND c.tenant_id = ${s.tenantId} AND EXISTS (SELECT 1 FROM active)
      RETURNING 1
    )
    SELECT count(*) AS n FROM upd`);
  return Number(rows[0]?.n ?? 0);
}
