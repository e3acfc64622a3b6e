/**
 * `embed-refresh`: re-embeds every chunk of a collection with a new embedding model,
 * resumable by cursor. Chunks are walked in id order in batches; each batch is a step whose
 * output is the cursor (the last chunk id it embedded), so after a crash or a retry the
 * completed batches replay from their stored outputs and the work resumes after the last
 * finished batch, not from the start.
 *
 * Old and new vectors never meet in one query: the new vectors are staged beside the old
 * ones and the collection's active model is switched in one statement once every chunk has
 * one; rag-query searches only the active model's chunks (design: documents/refresh.ts and
 * docs/documents.md).
 */
import { z } from 'zod';
import {
  activateRefresh,
  beginRefresh,
  nextStale,
  nextToStage,
  type PendingChunk,
  replaceVectors,
  stageVectors,
} from '../documents/refresh.ts';
import { ModelRefInput } from '../providers/chain.ts';
import { defineJob } from '../queue/define-job.ts';
import type { JobContext } from '../steps/context.ts';
import { Label } from './ingest.job.ts';

export const EmbedRefreshInput = z.object({
  collection: Label.default('default'),
  /** The new embedding model, "provider:model" (e.g. `openai:text-embedding-3-small`, `local`). */
  model: ModelRefInput,
  /** Chunks per embedding call and per step. 64 matches ingest's batches. */
  batchSize: z.number().int().min(1).max(512).default(64),
});
export type EmbedRefreshInput = z.infer<typeof EmbedRefreshInput>;

export const EmbedRefreshOutput = z.object({
  /** Chunks embedded with the new model by this job. */
  reembedded: z.number().int(),
  collection: z.string(),
  model: z.string(),
  previousModel: z.string(),
});

interface BatchOutput {
  /** The last chunk id this batch looked at: the next batch starts after it. */
  cursor: string;
  embedded: number;
  /** Whether there were fewer chunks than a batch: the walk is over. */
  last: boolean;
}

/** Walks the chunks `next` returns in batches, each a step named `${prefix}-${n}`. */
async function walk(
  ctx: JobContext,
  prefix: string,
  batchSize: number,
  next: (after: string) => Promise<PendingChunk[]>,
  write: (chunks: PendingChunk[], vectors: number[][]) => Promise<void>,
  embed: (texts: string[], step: string) => Promise<number[][]>,
  onBatch: (embedded: number) => void,
): Promise<number> {
  let cursor = '';
  let total = 0;
  for (let n = 1; ; n++) {
    const step = `${prefix}-${n}`;
    const out = await ctx.step(step, async (): Promise<BatchOutput> => {
      const chunks = await next(cursor);
      if (chunks.length === 0) return { cursor, embedded: 0, last: true };
      await write(
        chunks,
        await embed(
          chunks.map((c) => c.text),
          step,
        ),
      );
      return { cursor: chunks.at(-1)!.id, embedded: chunks.length, last: chunks.length < batchSize };
    });
    cursor = out.cursor;
    total += out.embedded;
    onBatch(total);
    if (out.last) return total;
  }
}

export const embedRefresh = defineJob({
  name: 'embed-refresh',
  description:
    'Re-embeds every chunk of a collection with a new embedding model, in resumable batches; queries switch to the new model only once all chunks have it.',
  input: EmbedRefreshInput,
  output: EmbedRefreshOutput,
  retry: { attempts: 5, backoffMs: 2_000, maxBackoffMs: 60_000 },
  timeoutMs: 6 * 60 * 60_000,
  // One refresh re-embeds a whole collection: a few at a time keep the provider's limits for interactive work.
  concurrency: 2,
  usesModels: true,
  needsVectors: true,
  async handle(input, ctx) {
    const model = ctx.models.embedModel?.(input.model) ?? input.model;
    const scope = { tenantId: ctx.tenantId, collection: input.collection, model };
    const start = await ctx.step('start', () => beginRefresh(ctx.db, scope, ctx.jobId));
    const embed = async (texts: string[], step: string) => {
      const { vectors, model: used } = await ctx.models.embed(texts, { model: input.model, step });
      if (used !== model) throw new Error(`embedded with ${used}, expected ${model}`);
      return vectors;
    };
    const total = Math.max(1, start.total);
    ctx.progress(0, `0 of ${start.total} chunks re-embedded`);

    // 1. Stage the new vectors; queries keep using the old model.
    const staged = await walk(
      ctx,
      'stage',
      input.batchSize,
      (after) => nextToStage(ctx.db, scope, after, input.batchSize),
      (chunks, vectors) => stageVectors(ctx.db, scope, chunks, vectors),
      embed,
      (done) => ctx.progress(Math.min(99, (done / total) * 99), `${done} of ${start.total} chunks re-embedded`),
    );
    // 2. Switch the collection in one statement.
    await ctx.step('activate', () => activateRefresh(ctx.db, scope));
    // 3. Chunks written or changed during the refresh, still on the old model (usually none).
    const swept = await walk(
      ctx,
      'sweep',
      input.batchSize,
      (after) => nextStale(ctx.db, scope, after, input.batchSize),
      async (chunks, vectors) => void (await replaceVectors(ctx.db, scope, chunks, vectors)),
      embed,
      () => {},
    );
    ctx.progress(100, `${staged + swept} chunks re-embedded with ${model}`);
    return { reembedded: staged + swept, collection: input.collection, model, previousModel: start.previousModel };
  },
});
