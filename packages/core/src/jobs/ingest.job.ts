/**
 * `ingest`: documents → text (HTML stripped) → token-bounded chunks with overlap → embeddings
 * in batches (each batch a step: a crash resumes at the batch) → upsert into the vector
 * tables. A chunk whose content hash and embedding model are already stored is not embedded
 * again; a changed document's chunks past its new length are removed.
 */
import { z } from 'zod';
import { ensureCollection, getCollection, modelChangedError } from '../documents/collections.ts';
import { upsertChunks, upsertDocument } from '../documents/store.ts';
import { type Chunk, chunkText, normalizeText, sha256 } from '../documents/text.ts';
import { ModelRefInput } from '../providers/chain.ts';
import { defineJob } from '../queue/define-job.ts';

/** Limits checked at submit. */
export const INGEST_MAX_DOCUMENTS = 500;
export const INGEST_MAX_DOCUMENT_CHARS = 2_000_000;
const EMBED_BATCH = 64;

/** A document id, collection or access level. */
export const Label = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

export const IngestDocument = z.object({
  id: Label.optional(),
  title: z.string().max(1_000).optional(),
  text: z.string().min(1).max(INGEST_MAX_DOCUMENT_CHARS).regex(/\S/, 'text is only whitespace: there is nothing to ingest'),
  /** `text` and `markdown` are chunked as they are; `html` is stripped to text (also detected when omitted). */
  contentType: z.enum(['text', 'markdown', 'html']).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** A label; `rag-query` sees only the levels it asks for (`public` when it names none). */
  accessLevel: Label.default('public'),
});

export const IngestInput = z
  .object({
    collection: Label.default('default'),
    documents: z
      .array(IngestDocument)
      .min(1)
      .max(INGEST_MAX_DOCUMENTS)
      .refine((docs) => {
        const ids = docs.flatMap((d) => (d.id ? [d.id] : []));
        return new Set(ids).size === ids.length;
      }, 'document ids must be unique within one ingest'),
    /**
     * Embedding model ("provider:model"). Default: the collection's model, or SPOOL_EMBED_MODEL for a new
     * collection. Another model than the collection's is refused (409): embed-refresh changes it.
     */
    model: ModelRefInput.optional(),
    chunkTokens: z.number().int().min(32).max(8_000).default(400),
    overlapTokens: z.number().int().min(0).max(2_000).default(50).describe('At most half of chunkTokens'),
  })
  .refine((i) => i.overlapTokens <= i.chunkTokens / 2, {
    // Each chunk moves on by chunkTokens − overlapTokens: 32 and 31 cut 1 MB into 340,000
    // chunks (7.6 s of a worker's CPU on every attempt, and as many embeddings).
    path: ['overlapTokens'],
    message: 'overlapTokens is at most half of chunkTokens',
  });
export type IngestInput = z.infer<typeof IngestInput>;

export const IngestOutput = z.object({
  documentIds: z.array(z.string()),
  chunks: z.number().int(),
  tokens: z.number().int(),
  unchanged: z.number().int(),
});

/** A document without an id is named by its content: the same text ingested twice is one document. */
export const documentIdFor = (collection: string, text: string) => `doc_${sha256(`${collection}\0${text}`).slice(0, 24)}`;

interface Plan {
  model: string;
  docs: { id: string; toEmbed: number[] }[];
  chunks: number;
  tokens: number;
  unchanged: number;
}

export const ingest = defineJob({
  name: 'ingest',
  description:
    'Chunks documents by tokens (with overlap), embeds new or changed chunks in batches and stores them for retrieval.',
  input: IngestInput,
  output: IngestOutput,
  retry: { attempts: 5, backoffMs: 2_000, maxBackoffMs: 60_000 },
  timeoutMs: 60 * 60_000,
  concurrency: 4,
  usesModels: true,
  needsVectors: true,
  async handle(input, ctx) {
    // Jobs stored before the submit refused more than half (the schema above) still run bounded.
    input.overlapTokens = Math.min(input.overlapTokens, Math.floor(input.chunkTokens / 2));
    // Pure functions of the input: the same on every attempt, so only the plan is stored.
    const byId = new Map<string, IngestInput['documents'][number] & { id: string }>();
    // The same unnamed text twice is one document.
    for (const d of input.documents) {
      const id = d.id ?? documentIdFor(input.collection, d.text);
      if (!byId.has(id)) byId.set(id, { ...d, id });
    }
    const docs = [...byId.values()].map((d) => {
      const text = normalizeText(d.text, d.contentType);
      const chunks: Chunk[] = chunkText(text, input.chunkTokens, input.overlapTokens, ctx.tokens);
      return { ...d, text, chunks };
    });

    const plan = await ctx.step('plan', async (): Promise<Plan> => {
      const requested = input.model === undefined ? undefined : (ctx.models.embedModel?.(input.model) ?? input.model);
      const model = await ensureCollection(
        ctx.db,
        ctx.tenantId,
        input.collection,
        requested ?? ctx.models.embedModel?.() ?? 'local',
        requested,
        ctx.jobId,
      );
      let unchanged = 0;
      const out: Plan['docs'] = [];
      for (const d of docs) {
        // Once this ingest owns the document, an older one writes no more chunks: what it kept
        // stays, and the rest is this ingest's to embed.
        const kept = await upsertDocument(ctx.db, {
          tenantId: ctx.tenantId,
          id: d.id,
          collection: input.collection,
          title: d.title ?? null,
          contentHash: sha256(d.text),
          metadata: d.metadata ?? null,
          accessLevel: d.accessLevel,
          chunkHashes: d.chunks.map((c) => c.hash),
          model,
          tokens: d.chunks.reduce((n, c) => n + c.tokens, 0),
          ingestJobId: ctx.jobId,
        });
        const keptIndexes = new Set(kept);
        const toEmbed = d.chunks.filter((c) => !keptIndexes.has(c.index)).map((c) => c.index);
        unchanged += d.chunks.length - toEmbed.length;
        out.push({ id: d.id, toEmbed });
      }
      const all = docs.flatMap((d) => d.chunks);
      return { model, docs: out, chunks: all.length, tokens: all.reduce((n, c) => n + c.tokens, 0), unchanged };
    });

    const work = plan.docs.flatMap((p, i) => p.toEmbed.map((index) => ({ doc: docs[i]!, chunk: docs[i]!.chunks[index]! })));
    const batches = Math.ceil(work.length / EMBED_BATCH);
    ctx.progress(work.length === 0 ? 100 : 0, `0 of ${work.length} chunks embedded`);
    for (let b = 0; b < batches; b++) {
      const batch = work.slice(b * EMBED_BATCH, (b + 1) * EMBED_BATCH);
      await ctx.step(`embed-${b + 1}`, async () => {
        // The collection's model now, not at plan time: an embed-refresh may have switched it since.
        const active = (await getCollection(ctx.db, ctx.tenantId, input.collection))?.embedding_model ?? plan.model;
        const { vectors, model } = await ctx.models.embed(
          batch.map((w) => w.chunk.text),
          { model: active, step: `embed-${b + 1}` },
        );
        const written = await upsertChunks(
          ctx.db,
          batch.map((w, i) => ({
            tenantId: ctx.tenantId,
            collection: input.collection,
            documentId: w.doc.id,
            index: w.chunk.index,
            text: w.chunk.text,
            tokens: w.chunk.tokens,
            hash: w.chunk.hash,
            metadata: w.doc.metadata ?? null,
            accessLevel: w.doc.accessLevel,
            model,
            embedding: vectors[i]!,
            ingestJobId: ctx.jobId,
          })),
        );
        // Switched between the embedding call and the write: nothing was written; embed again (retryable).
        if (!written) throw modelChangedError(input.collection);
        return { chunks: batch.length };
      });
      const done = Math.min(work.length, (b + 1) * EMBED_BATCH);
      ctx.progress((done / work.length) * 100, `${done} of ${work.length} chunks embedded`);
    }
    return { documentIds: plan.docs.map((d) => d.id), chunks: plan.chunks, tokens: plan.tokens, unchanged: plan.unchanged };
  },
});
