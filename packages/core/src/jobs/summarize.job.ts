/**
 * `summarize`: a text, or a stored document (its chunks in order), → token-bounded chunks →
 * one model call per chunk (map, each a step) → partial summaries combined in groups that fit
 * one context window, level after level while they are still too long (reduce, each a step)
 * → one final summary trimmed to `maxWords`. A crash or retry resumes after the last
 * completed map or reduce step. With the `local` provider the summaries are extractive.
 */
import { z } from 'zod';
import { documentChunkTexts, documentExists } from '../documents/store.ts';
import {
  answerTokens,
  groupForReduce,
  joinChunks,
  mapPrompt,
  PROMPT_OVERHEAD_TOKENS,
  reducePrompt,
  SUMMARIZE_PROMPT_VERSION,
  stripInstructionEcho,
  trimWords,
} from '../documents/summary.ts';
import { chunkText, normalizeText, sha256 } from '../documents/text.ts';
import { nonRetryable, SpoolError } from '../errors.ts';
import { ModelRefInput } from '../providers/chain.ts';
import { addUsage } from '../providers/cost.ts';
import type { CallUsage } from '../providers/models.ts';
import type { ChatMessage } from '../providers/types.ts';
import { defineJob } from '../queue/define-job.ts';

/** The largest `text` accepted (422 past it); the same bound as one ingested document. */
export const SUMMARIZE_MAX_TEXT_CHARS = 2_000_000;
/**
 * Tokens of `text` accepted at submit (413 past it). 500k: about 170 map calls at the default
 * window, a bound on what one job may spend; a 1 MiB body (the default limit) holds ~250k.
 */
export const SUMMARIZE_TOKEN_BUDGET = 500_000;
// Map and reduce calls in flight per job: enough to hide model latency, few enough that one
// job does not take a provider's whole RPM budget from the others.
const PARALLEL_CALLS = 4;
// Each level at least halves the partials (see groupForReduce): 16 levels cover 65,536 chunks,
// above the token budget's worst case (500k tokens in the smallest window, ~6,000 chunks).
const MAX_REDUCE_LEVELS = 16;

/** Words of one partial summary (a map or reduce call's answer). */
const partialWords = (contextTokens: number) => Math.max(20, Math.floor(contextTokens / 10));
// The least text a call must have room for beside its prompt and answer.
const MIN_TEXT_TOKENS = 32;

export const SummarizeInput = z
  .object({
    /** The text to summarize; or `documentId`. */
    text: z.string().min(1).max(SUMMARIZE_MAX_TEXT_CHARS).optional(),
    /** `html` is stripped to text (also detected when omitted). Only with `text`. */
    contentType: z.enum(['text', 'markdown', 'html']).optional(),
    /** An ingested document of the caller's tenant (needs the vector tables); or `text`. */
    documentId: z.string().min(1).max(100).optional(),
    maxWords: z.number().int().min(10).max(5_000).default(200),
    /** Chat model to try first; SPOOL_CHAT_MODELS is the fallback. */
    model: ModelRefInput.optional(),
    /** The model's context window in tokens: each map or reduce call's text, prompt and answer fit in it. */
    contextTokens: z.number().int().min(200).max(200_000).default(4_000),
  })
  .refine((i) => (i.text === undefined) !== (i.documentId === undefined), {
    message: 'give exactly one of text or documentId',
    path: ['text'],
  })
  // The final call holds its prompt, an answer of maxWords and the text it summarizes: at least
  // one partial summary (or a short text). Less room made a call larger than the window (a 400
  // from a model that has it): with 1,000 tokens and maxWords 440, the final call took 1,138.
  .refine(
    (i) =>
      i.contextTokens - PROMPT_OVERHEAD_TOKENS - answerTokens(i.maxWords) >=
      Math.max(MIN_TEXT_TOKENS, answerTokens(partialWords(i.contextTokens))),
    {
      message: 'maxWords leaves too little room for text in contextTokens: lower maxWords or raise contextTokens',
      path: ['maxWords'],
    },
  );

export type SummarizeInput = z.infer<typeof SummarizeInput>;

const Usage = z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() });

export const SummarizeOutput = z.object({
  summary: z.string(),
  /** Map calls: the token-bounded chunks of the text. */
  chunks: z.number().int(),
  /** Reduce levels run before the final summary (0 when the partials fitted one call). */
  reduceLevels: z.number().int(),
  model: z.string(),
  usage: Usage,
});

/** One call's memoized outcome (a step output). */
interface Part {
  summary: string;
  tokens: number;
  model: string;
  usage: CallUsage;
}

/**
 * Runs `fn` over `items` with at most `limit` in flight (a few lines; no pool library in the
 * workspace). After a failure no new item starts, but calls in flight finish, so their steps
 * are stored and a retry does not pay for them again; then the first error is thrown.
 */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const errors: unknown[] = [];
  const lane = async () => {
    while (errors.length === 0 && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (errors.length > 0) throw errors[0];
  return out;
}

export const summarize = defineJob({
  name: 'summarize',
  description: 'Summarizes a text or a stored document by map-reduce over token-bounded chunks (each chunk a step), with usage.',
  input: SummarizeInput,
  output: SummarizeOutput,
  // As chat: provider outages last seconds to minutes, and completed steps are kept.
  retry: { attempts: 3, backoffMs: 2_000, maxBackoffMs: 30_000 },
  timeoutMs: 60 * 60_000,
  concurrency: 4,
  tokenBudget: SUMMARIZE_TOKEN_BUDGET,
  inputText: (input) => input.text ?? '',
  usesModels: true,
  // Only a stored document needs the vector tables: text summaries run on any PostgreSQL.
  needsVectors: (input) => input.documentId !== undefined,
  async preflight(input, { db, tenantId }) {
    if (input.documentId !== undefined && !(await documentExists(db, tenantId, input.documentId))) {
      throw new SpoolError('document_not_found', `document ${input.documentId} not found`, { status: 422 });
    }
  },
  async handle(input, ctx) {
    const text = input.text !== undefined ? normalizeText(input.text, input.contentType) : await documentText(input.documentId!);
    // Partials small enough that several share one reduce call (~10 per window).
    const partWords = partialWords(input.contextTokens);
    // A context window holds the prompt and the answer: the text of one call gets the rest.
    const window = input.contextTokens - PROMPT_OVERHEAD_TOKENS - answerTokens(partWords);
    // The final call answers in maxWords, which may be longer than a partial: its text gets
    // less room. Without this, a final call with maxWords above a partial's words asked for
    // more than contextTokens (a 400 from a model with that window).
    const finalWindow = input.contextTokens - PROMPT_OVERHEAD_TOKENS - answerTokens(input.maxWords);
    const chunks = chunkText(text, window, 0, ctx.tokens);
    if (chunks.length === 0) throw nonRetryable('empty_text', 'the text has no words to summarize');
    // A lone chunk that fits the final call is summarized by it; otherwise map, then reduce-final.
    const lone = chunks.length === 1 && chunks[0]!.tokens <= finalWindow;

    // A stored document may be re-ingested between attempts: completed map steps would then
    // belong to another text. The plan pins what the steps were made from.
    const hash = sha256(text);
    const plan = await ctx.step('plan', () => ({ chunks: chunks.length, hash }));
    if (plan.hash !== hash || plan.chunks !== chunks.length) {
      throw nonRetryable('document_changed', 'the document changed while it was summarized; submit the job again');
    }

    const call = async (messages: ChatMessage[], words: number, step: string): Promise<Part> => {
      const r = await ctx.models.chat({
        messages,
        model: input.model,
        temperature: 0,
        // The text is trimmed to `words` anyway; the cap bounds cost and time.
        maxTokens: answerTokens(words),
        promptVersion: SUMMARIZE_PROMPT_VERSION,
        step,
        // An empty answer is not kept for the next identical call (temperature 0 caches).
        cacheable: (content) => stripInstructionEcho(content).trim() !== '',
      });
      const summary = trimWords(stripInstructionEcho(r.content), words);
      // It completed the job with `summary: ""`, billed. Asked again on the next attempt.
      if (summary === '') throw new SpoolError('empty_summary', `the model answered ${step} with nothing`, { retryable: true });
      return { summary, tokens: ctx.tokens.count(summary), model: r.model, usage: r.usage };
    };

    const steps: Part[] = [];
    let done = 0;
    ctx.progress(0, `0 of ${chunks.length} chunks summarized`);
    let parts = await mapLimit(chunks, PARALLEL_CALLS, async (chunk, i) => {
      const name = `map-${i + 1}`;
      // A lone chunk's summary is the final one.
      const words = lone ? input.maxWords : partWords;
      const part = await ctx.step(name, () => call(mapPrompt(chunk.text, i + 1, chunks.length, words), words, name));
      done++;
      ctx.progress((done / chunks.length) * 90, `${done} of ${chunks.length} chunks summarized`);
      return part;
    });
    steps.push(...parts);

    let level = 0;
    while (parts.length > 1 && parts.reduce((n, p) => n + p.tokens, 0) > Math.min(window, finalWindow)) {
      level++;
      if (level > MAX_REDUCE_LEVELS)
        throw nonRetryable('summary_too_deep', `the partial summaries did not converge in ${MAX_REDUCE_LEVELS} levels`);
      const groups = groupForReduce(
        parts.map((p) => p.tokens),
        window,
      );
      const current = parts;
      ctx.progress(90, `combining ${current.length} partial summaries (level ${level})`);
      parts = await mapLimit(groups, PARALLEL_CALLS, (group, j) => {
        const name = `reduce-${level}-${j + 1}`;
        return ctx.step(name, () =>
          call(
            reducePrompt(
              group.map((k) => current[k]!.summary),
              partWords,
            ),
            partWords,
            name,
          ),
        );
      });
      steps.push(...parts);
    }

    let final = parts[0]!;
    if (!lone) {
      final = await ctx.step('reduce-final', () =>
        call(
          reducePrompt(
            parts.map((p) => p.summary),
            input.maxWords,
          ),
          input.maxWords,
          'reduce-final',
        ),
      );
      steps.push(final);
    }
    ctx.progress(100, 'summary ready');
    return {
      summary: trimWords(final.summary, input.maxWords),
      chunks: chunks.length,
      reduceLevels: level,
      model: final.model,
      usage: steps.reduce((u, p) => addUsage(u, p.usage), { inputTokens: 0, outputTokens: 0, costUsd: 0 }),
    };

    async function documentText(id: string): Promise<string> {
      const stored = await documentChunkTexts(ctx.db, ctx.tenantId, id);
      if (!stored) throw nonRetryable('document_not_found', `document ${id} not found (deleted after the job was submitted?)`);
      if (stored.texts.length < stored.expected) {
        // An ingest of it is still embedding: its chunks arrive batch by batch.
        throw new SpoolError(
          'document_not_ready',
          `document ${id} is still being ingested (${stored.texts.length} of ${stored.expected} chunks stored)`,
          { retryable: true, retryAfterMs: 5_000 },
        );
      }
      return joinChunks(stored.texts);
    }
  },
});
