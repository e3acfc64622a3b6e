/**
 * `rag-query`: embed the question with the collection's active embedding model, retrieve the
 * top-k chunks (tenant, collection, that one model and access levels filtered in SQL),
 * optionally rerank a wider set of candidates, answer from them with the chat chain (a
 * versioned grounded prompt; extractive with the local provider) and cite the chunks used.
 * The retrieval (query, filters, chunk ids and scores) is kept on the trace.
 */
import { z } from 'zod';
import { getCollection, modelChangedError } from '../documents/collections.ts';
import { lexicalRerank } from '../documents/rerank.ts';
import { chunksStillThere, type SearchHit, searchChunks } from '../documents/store.ts';
import { SpoolError } from '../errors.ts';
import { ModelRefInput } from '../providers/chain.ts';
import { defineJob } from '../queue/define-job.ts';
import { attachRetrieval } from '../store/model-calls.ts';
import { truncate } from './storable-json.ts';

export const RAG_PROMPT_VERSION = 'rag-v1';
const SNIPPET_CHARS = 240;
// Candidates fetched per kept chunk when reranking: enough for the rerank to matter, few enough to stay cheap.
const RERANK_FACTOR = 4;
const MAX_CANDIDATES = 100;
const Label = z.string().min(1).max(100);

export const RagQueryInput = z.object({
  question: z.string().min(1).max(10_000),
  collection: Label.default('default'),
  topK: z.number().int().min(1).max(50).default(5),
  filter: z
    .object({
      /** Access levels the answer may draw on; default `["public"]`. */
      accessLevels: z.array(Label).min(1).max(50).optional(),
      documentIds: z.array(Label).min(1).max(1_000).optional(),
    })
    .optional(),
  /** Chat model to try first; SPOOL_CHAT_MODELS is the fallback. */
  model: ModelRefInput.optional(),
  /**
   * The embedding model expected for the collection. The collection's active model is always
   * used; naming another one is refused (409), since its vectors would not compare.
   */
  embedModel: ModelRefInput.optional(),
  /** Rerank `topK × 4` vector candidates by lexical overlap with the question, keep the best `topK`. */
  rerank: z.boolean().default(false),
});

const Citation = z.object({
  documentId: z.string(),
  chunkId: z.string(),
  /** Cosine similarity of the chunk to the question. */
  score: z.number(),
  /** With `rerank`: the share of the question's content words the chunk contains (0–1). */
  rerankScore: z.number().optional(),
  snippet: z.string(),
});

export const RagQueryOutput = z.object({
  answer: z.string(),
  citations: z.array(Citation),
  model: z.string(),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() }),
});

const NO_CONTEXT_ANSWER = 'No indexed document matches this question.';
// The sources of one answer, with the question, in tokens: the type's budget (gpt-4o-mini's
// window) less room for the answer. 50 chunks of 8,000 tokens made a prompt no model takes.
const SOURCE_TOKENS = 120_000;

/** The best-ranked hits whose texts fit in `budget` tokens together, in rank order. */
function withinBudget<T extends { text: string }>(hits: T[], budget: number, count: (text: string) => number): T[] {
  const kept: T[] = [];
  let left = budget;
  for (const h of hits) {
    const cost = count(h.text) + 4; // the `[n] ` label and the separator
    if (cost > left) break;
    kept.push(h);
    left -= cost;
  }
  return kept;
}

export const ragQuery = defineJob({
  name: 'rag-query',
  description: 'Answers a question from the tenant’s ingested documents, with citations (document, chunk, score, snippet).',
  input: RagQueryInput,
  output: RagQueryOutput,
  retry: { attempts: 3, backoffMs: 2_000, maxBackoffMs: 30_000 },
  timeoutMs: 10 * 60_000,
  concurrency: 16,
  tokenBudget: 128_000,
  inputText: (input) => input.question,
  usesModels: true,
  needsVectors: true,
  async handle(input, ctx) {
    const accessLevels = input.filter?.accessLevels ?? ['public'];
    const hits = await ctx.step('retrieve', async (): Promise<(SearchHit & { rerankScore?: number })[]> => {
      const collection = await getCollection(ctx.db, ctx.tenantId, input.collection);
      if (!collection) return []; // nothing was ever ingested there: no embedding call needed
      const model = collection.embedding_model;
      const expected =
        input.embedModel === undefined ? undefined : (ctx.models.embedModel?.(input.embedModel) ?? input.embedModel);
      if (expected !== undefined && expected !== model) {
        throw new SpoolError(
          'embedding_model_mismatch',
          `collection "${input.collection}" is embedded with ${model}, not ${expected}`,
          { status: 409, retryable: false, details: { collection: input.collection, activeModel: model, requested: expected } },
        );
      }
      const { vectors } = await ctx.models.embed([input.question], { model, step: 'retrieve' });
      const candidates = input.rerank ? Math.min(MAX_CANDIDATES, input.topK * RERANK_FACTOR) : input.topK;
      const searchStarted = performance.now();
      const found = await searchChunks(ctx.db, {
        tenantId: ctx.tenantId,
        collection: input.collection,
        model,
        vector: vectors[0]!,
        topK: candidates,
        accessLevels,
        documentIds: input.filter?.documentIds,
      });
      const searchMs = Math.round((performance.now() - searchStarted) * 100) / 100;
      // An embed-refresh switched the collection after we read its model: ask again with the new one.
      if (found.length === 0 && (await getCollection(ctx.db, ctx.tenantId, input.collection))?.embedding_model !== model)
        throw modelChangedError(input.collection);
      const kept: (SearchHit & { rerankScore?: number })[] = input.rerank
        ? lexicalRerank(input.question, found).slice(0, input.topK)
        : found;
      await attachRetrieval(
        ctx.db,
        { jobId: ctx.jobId, attempt: ctx.attempt, step: 'retrieve' },
        {
          query: truncate(input.question, 2_000),
          collection: input.collection,
          embeddingModel: model,
          topK: input.topK,
          filters: { accessLevels, documentIds: input.filter?.documentIds ?? null },
          rerank: input.rerank,
          candidates: found.length,
          searchMs,
          chunks: kept.map((h) => ({
            chunkId: h.chunkId,
            documentId: h.documentId,
            score: h.score,
            ...(h.rerankScore === undefined ? {} : { rerankScore: h.rerankScore }),
          })),
        },
      );
      return kept;
    });
    const noAnswer = {
      answer: NO_CONTEXT_ANSWER,
      citations: [],
      model: 'none',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    };
    if (hits.length === 0) return noAnswer;
    // The sources are settled with the answer, in its step: a retry replays the retrieval of an
    // earlier attempt, and what was deleted or restricted since is left out, not sent and cited.
    const answer = await ctx.step('answer', async () => {
      const there = await chunksStillThere(
        ctx.db,
        { tenantId: ctx.tenantId, collection: input.collection, accessLevels, documentIds: input.filter?.documentIds },
        hits,
      );
      const used = withinBudget(
        hits.filter((h) => there.has(h.chunkId)),
        SOURCE_TOKENS - ctx.tokens.count(input.question),
        (text) => ctx.tokens.count(text),
      );
      if (used.length === 0) return undefined;
      const result = await ctx.models.chat({
        messages: [
          { role: 'system', content: 'Answer only from these sources, citing them by number:' },
          { role: 'system', content: used.map((h, i) => `[${i + 1}] ${h.text}`).join('\n\n') },
          { role: 'user', content: input.question },
        ],
        model: input.model,
        temperature: 0,
        promptVersion: RAG_PROMPT_VERSION,
        step: 'answer',
      });
      return { ...result, chunkIds: used.map((h) => h.chunkId) };
    });
    if (!answer) return noAnswer;
    // An answer stored before its sources were (an attempt of an earlier version) used them all.
    const cited = new Set((answer as { chunkIds?: string[] }).chunkIds ?? hits.map((h) => h.chunkId));
    return {
      answer: answer.content,
      citations: hits
        .filter((h) => cited.has(h.chunkId))
        .map((h) => ({
          documentId: h.documentId,
          chunkId: h.chunkId,
          score: h.score,
          ...(h.rerankScore === undefined ? {} : { rerankScore: h.rerankScore }),
          snippet: h.text.length > SNIPPET_CHARS ? `${truncate(h.text, SNIPPET_CHARS)}…` : h.text,
        })),
      model: answer.model,
      usage: answer.usage,
    };
  },
});
