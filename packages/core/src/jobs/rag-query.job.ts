/**
 * `rag-query`: embed the question, retrieve the top-k chunks (tenant, collection, embedding
 * model and access levels filtered in SQL), answer from them with the chat chain (a versioned
 * grounded prompt; extractive with the local provider) and cite the chunks used.
 */
import { z } from 'zod';
import { searchChunks } from '../documents/store.ts';
import { defineJob } from '../queue/define-job.ts';

export const RAG_PROMPT_VERSION = 'rag-v1';
const SNIPPET_CHARS = 240;
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
  model: z.string().min(1).max(200).optional(),
  /** The embedding model the collection was ingested with; default SPOOL_EMBED_MODEL. */
  embedModel: z.string().min(1).max(200).optional(),
});

const Citation = z.object({ documentId: z.string(), chunkId: z.string(), score: z.number(), snippet: z.string() });

export const RagQueryOutput = z.object({
  answer: z.string(),
  citations: z.array(Citation),
  model: z.string(),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() }),
});

const NO_CONTEXT_ANSWER = 'No indexed document matches this question.';

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
    const hits = await ctx.step('retrieve', async () => {
      const { vectors, model } = await ctx.models.embed([input.question], { model: input.embedModel, step: 'retrieve' });
      const found = await searchChunks(ctx.db, {
        tenantId: ctx.tenantId,
        collection: input.collection,
        model,
        vector: vectors[0]!,
        topK: input.topK,
        accessLevels,
        documentIds: input.filter?.documentIds,
      });
      ctx.log.info(
        { collection: input.collection, model, accessLevels, retrieved: found.map((h) => [h.chunkId, h.score]) },
        'rag-query retrieval',
      );
      return found;
    });
    if (hits.length === 0) {
      return { answer: NO_CONTEXT_ANSWER, citations: [], model: 'none', usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 } };
    }
    const sources = hits.map((h, i) => `[${i + 1}] ${h.text}`).join('\n\n');
    const answer = await ctx.step('answer', () =>
      ctx.models.chat({
        messages: [
          { role: 'system', content: 'Answer only from these sources, citing them by number:' },
          { role: 'system', content: sources },
          { role: 'user', content: input.question },
        ],
        model: input.model,
        temperature: 0,
        promptVersion: RAG_PROMPT_VERSION,
        step: 'answer',
      }),
    );
    return {
      answer: answer.content,
      citations: hits.map((h) => ({
        documentId: h.documentId,
        chunkId: h.chunkId,
        score: h.score,
        snippet: h.text.length > SNIPPET_CHARS ? `${h.text.slice(0, SNIPPET_CHARS)}…` : h.text,
      })),
      model: answer.model,
      usage: answer.usage,
    };
  },
});
