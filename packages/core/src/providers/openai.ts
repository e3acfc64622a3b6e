/**
 * The `openai` provider: the official SDK against any OpenAI-compatible server (OpenAI, vLLM,
 * Ollama, llama.cpp server, LM Studio). The SDK's own retries are off: Spool's layer
 * (models.ts) owns retries, so each HTTP attempt is seen, counted by the breaker and traced.
 * Loaded with a dynamic import, only by processes that run model calls.
 */
import OpenAI from 'openai';
import { SpoolError } from '../errors.ts';
import { countChatTokens, countTokens } from './tokens.ts';
import {
  type CallOptions,
  type EmbedResult,
  type Provider,
  type ProviderChatRequest,
  type ProviderChatResult,
  type TokenUsage,
  withBilledUsage,
} from './types.ts';

export interface OpenAIProviderOptions {
  baseURL?: string | undefined;
  apiKey?: string | undefined;
  /** An upper bound the SDK enforces too; models.ts sets the per-call timeout. */
  timeoutMs: number;
}

/**
 * OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 and its minis) refuse `max_tokens` (400
 * "use max_completion_tokens") and any temperature but their default: sent as for other
 * models, a summarize or rag-query naming one (both set temperature 0) could only fail.
 */
const REASONING_MODEL = /^(o\d|gpt-5(?!-chat))/;

export function createOpenAIProvider(opts: OpenAIProviderOptions): Provider {
  const client = new OpenAI({
    baseURL: opts.baseURL,
    // Local servers (Ollama, vLLM) take any key; the SDK refuses to start without one.
    apiKey: opts.apiKey ?? 'not-set',
    maxRetries: 0,
    timeout: opts.timeoutMs,
  });

  return {
    name: 'openai',
    async chat(req: ProviderChatRequest, call: CallOptions): Promise<ProviderChatResult> {
      const reasoning = REASONING_MODEL.test(req.model);
      const body = {
        model: req.model,
        messages: req.messages,
        ...(req.temperature !== undefined && !reasoning ? { temperature: req.temperature } : {}),
        // For a reasoning model the bound counts its hidden reasoning tokens too.
        ...(req.maxTokens !== undefined ? { [reasoning ? 'max_completion_tokens' : 'max_tokens']: req.maxTokens } : {}),
        ...(req.responseSchema
          ? {
              response_format: {
                type: 'json_schema' as const,
                json_schema: { name: 'response', schema: req.responseSchema, strict: false },
              },
            }
          : {}),
      };
      if (!call.onDelta) {
        const res = await client.chat.completions.create({ ...body, stream: false }, { signal: call.signal });
        const choice = res.choices?.[0];
        if (!choice) throw new SpoolError('bad_response', 'the model answered with no choices', { retryable: true });
        const content = choice.message?.content ?? '';
        if (choice.finish_reason === 'content_filter') throw filtered(chatUsage(res.usage, req, content));
        return { content, usage: chatUsage(res.usage, req, content), finishReason: choice.finish_reason ?? null };
      }

      const stream = await client.chat.completions.create(
        { ...body, stream: true, stream_options: { include_usage: true } },
        { signal: call.signal },
      );
      let content = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finishReason: string | null = null;
      for await (const chunk of stream) {
        const choice = chunk.choices?.[0];
        const text = choice?.delta?.content;
        if (text) {
          content += text;
          call.onDelta(text);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (chunk.usage) usage = chunk.usage;
      }
      if (finishReason === 'content_filter') throw filtered(chatUsage(usage, req, content));
      // A stream cut before its last chunk has no finish_reason: an incomplete answer.
      if (finishReason === null)
        throw new SpoolError('bad_response', 'the stream ended before the answer did', { retryable: true });
      return { content, usage: chatUsage(usage, req, content), finishReason };
    },

    async embed(model: string, texts: string[], call: CallOptions): Promise<EmbedResult> {
      const res = await client.embeddings.create({ model, input: texts, encoding_format: 'float' }, { signal: call.signal });
      const vectors = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      if (vectors.length !== texts.length)
        throw new SpoolError('bad_response', `asked for ${texts.length} embeddings, got ${vectors.length}`, { retryable: true });
      const inputTokens = tokens(res.usage?.prompt_tokens, () => texts.reduce((n, t) => n + countTokens(t, model), 0));
      return { vectors, inputTokens };
    },
  };
}

const filtered = (usage: TokenUsage) =>
  withBilledUsage(new SpoolError('content_filter', 'the provider’s content filter stopped the answer'), usage);

/**
 * A provider's token count, or our own count when it sent none or nonsense (`"1"`, `-1`,
 * `1.5`): such a number reached the cost and the metrics, where prom-client threw, and a
 * call that had answered (and been paid for) failed and was made again.
 */
function tokens(reported: unknown, count: () => number): number {
  return Number.isSafeInteger(reported) && (reported as number) >= 0 && (reported as number) <= MAX_TOKENS
    ? (reported as number)
    : count();
}

/**
 * No call is billed two billion tokens: a count past this is nonsense too, and the trace's
 * int4 columns refused it, so the call's cost went unrecorded (past the caps and the usage).
 */
const MAX_TOKENS = 2 ** 31 - 1;

function chatUsage(usage: OpenAI.CompletionUsage | null | undefined, req: ProviderChatRequest, content: string) {
  return {
    inputTokens: tokens(usage?.prompt_tokens, () => countChatTokens(req.messages, req.model)),
    outputTokens: tokens(usage?.completion_tokens, () => countTokens(content, req.model)),
  };
}
