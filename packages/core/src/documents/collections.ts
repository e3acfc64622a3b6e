/**
 * Collections and their one active embedding model. Every chunk of a collection that queries
 * can see carries that model's vector; `embed-refresh` switches the model (refresh.ts).
 */
import { sql } from 'drizzle-orm';
import { type Database, rowsOf } from '../db/client.ts';
import { SpoolError } from '../errors.ts';

export interface CollectionRow {
  embedding_model: string;
  refresh_model: string | null;
  refresh_job_id: string | null;
}

/** The collection's row, or undefined when nothing was ever ingested into it. */
export async function getCollection(db: Database, tenantId: string, name: string): Promise<CollectionRow | undefined> {
  const rows = await db.query<CollectionRow>(sql`
    SELECT embedding_model, refresh_model, refresh_job_id FROM collections WHERE tenant_id = ${tenantId} AND name = ${name}`);
  return rows[0];
}

/**
 * The model a new ingest embeds with: the collection's active model. The first ingest into a
 * collection creates it with `model`. An explicit `requested` model that differs from the
 * active one is refused while the collection holds chunks: mixing models would make part of
 * the collection invisible to queries, and changing the model is what `embed-refresh` is for.
 */
export async function ensureCollection(
  db: Database,
  tenantId: string,
  name: string,
  model: string,
  requested: string | undefined,
  /** The ingest asking, whose own documents do not count as another ingest's work. */
  ingestJobId?: string,
): Promise<string> {
  await db.query(sql`
    INSERT INTO collections (tenant_id, name, embedding_model) VALUES (${tenantId}, ${name}, ${model})
    ON CONFLICT (tenant_id, name) DO NOTHING`);
  const active = (await getCollection(db, tenantId, name))!.embedding_model;
  if (requested !== undefined && requested !== active) {
    if (await rebindIfEmpty(db, tenantId, name, active, requested, ingestJobId)) return requested;
    throw new SpoolError(
      'embedding_model_mismatch',
      `collection "${name}" is embedded with ${active}, not ${requested}: ingest without "model", or run embed-refresh to change the collection's model`,
      { status: 409, retryable: false, details: { collection: name, activeModel: active, requested } },
    );
  }
  return active;
}

/**
 * A collection that holds no chunks (its first ingest failed, its documents were all deleted)
 * has nothing to mix up: it takes the model asked for. Refused, it was stuck, since
 * embed-refresh has nothing to refresh there. Not while another ingest of it is queued or
 * running (it would have its model changed under it), nor during a refresh. The row is locked
 * first, so the checks after it see every chunk write that held it.
 */
async function rebindIfEmpty(
  db: Database,
  tenantId: string,
  name: string,
  active: string,
  requested: string,
  ingestJobId: string | undefined,
): Promise<boolean> {
  return db.orm.transaction(async (tx) => {
    const [row] = rowsOf<CollectionRow>(
      await tx.execute(sql`
        SELECT embedding_model, refresh_model, refresh_job_id FROM collections
        WHERE tenant_id = ${tenantId} AND name = ${name} FOR UPDATE`),
    );
    if (!row || row.embedding_model !== active || row.refresh_job_id !== null) return false;
    const busy = rowsOf(
      await tx.execute(sql`
        SELECT 1 WHERE EXISTS (SELECT 1 FROM chunks WHERE tenant_id = ${tenantId} AND collection = ${name})
          OR EXISTS (
            SELECT 1 FROM documents d JOIN jobs j ON j.id = d.ingest_job_id
            WHERE d.tenant_id = ${tenantId} AND d.collection = ${name} AND j.status IN ('queued', 'running')
              AND j.id <> ${ingestJobId ?? ''})`),
    );
    if (busy.length > 0) return false;
    await tx.execute(sql`
      UPDATE collections SET embedding_model = ${requested}, updated_at = now()
      WHERE tenant_id = ${tenantId} AND name = ${name}`);
    return true;
  });
}

/** Thrown when a collection's model changed between embedding a batch and writing it: the batch is embedded again. */
export const modelChangedError = (collection: string) =>
  new SpoolError('collection_model_changed', `the embedding model of collection "${collection}" changed meanwhile`, {
    status: 409,
    retryable: true,
    retryAfterMs: 0,
  });
