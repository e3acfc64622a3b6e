/**
 * `chat`: one governed model call (see providers/models.ts), optionally streamed, optionally
 * structured: with `responseSchema` the answer must be JSON valid against it; an invalid answer
 * gets one repair call, then the job fails with `output_validation_failed`.
 */
import { z } from 'zod';
import { SpoolError } from '../errors.ts';
import { ModelRefInput } from '../providers/chain.ts';
import { addUsage } from '../providers/cost.ts';
import type { CallUsage, ChatCall, ChatCallResult } from '../providers/models.ts';
import { defineJob } from '../queue/define-job.ts';
import { checkJson, SchemaLimitError, validatorFor } from './json-output.ts';

export const ChatMessage = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(1_000_000),
});

export const ChatInput = z.object({
  messages: z.array(ChatMessage).min(1).max(1_000),
  /** "provider:model" (or an OpenAI model name) to try first; SPOOL_CHAT_MODELS is the fallback. */
  model: ModelRefInput.optional(),
  /** A JSON Schema the answer must satisfy; the result then has `object` instead of `content`. */
  responseSchema: z
    .record(z.string(), z.unknown())
    .superRefine((schema, ctx) => {
      try {
        validatorFor(schema);
      } catch (err) {
        const message = err instanceof SchemaLimitError ? err.message : `not a valid JSON Schema: ${(err as Error).message}`;
        ctx.addIssue({ code: 'custom', message });
      }
    })
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().min(1).max(200_000).optional(),
  /** Emit the answer's tokens as `delta` events while it is generated. */
  stream: z.boolean().optional(),
  /** Default: `exact` when temperature is 0, else `off`. */
  cache: z.enum(['exact', 'semantic', 'off']).optional(),
  /** Recorded on the trace and part of the cache key. */
  promptVersion: z.string().min(1).max(100).optional(),
});
export type ChatInput = z.infer<typeof ChatInput>;

const Usage = z.object({ inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() });

export const ChatOutput = z.object({
  content: z.string().optional(),
  object: z.unknown().optional(),
  model: z.string(),
  usage: Usage,
  cached: z.union([z.literal(false), z.enum(['exact', 'semantic'])]),
  fallbackUsed: z.boolean(),
});
export type ChatOutput = z.infer<typeof ChatOutput>;

const REPAIR_PROMPT = (errors: string[]) =>
  `Your previous answer did not satisfy the required JSON Schema:\n${errors.map((e) => `- ${e}`).join('\n')}\n` +
  'Answer again with only the corrected JSON value, no prose and no code fence.';

export const chat = defineJob({
  name: 'chat',
  description: 'A chat completion through the governed model layer, optionally streamed and/or validated against a JSON Schema.',
  input: ChatInput,
  output: ChatOutput,
  // Provider outages last seconds to minutes: 3 attempts, 2 s doubling, each already retried and fallen back inside.
  retry: { attempts: 3, backoffMs: 2_000, maxBackoffMs: 30_000 },
  timeoutMs: 10 * 60_000,
  concurrency: 8,
  // gpt-4o-mini's context window.
  tokenBudget: 128_000,
  inputText: (input) => input.messages.map((m) => m.content).join('\n'),
  usesModels: true,
  async handle(input, ctx) {
    const call: ChatCall = {
      messages: input.messages,
      model: input.model,
      temperature: input.temperature,
      maxTokens: input.maxTokens,
      responseSchema: input.responseSchema,
      stream: input.stream,
      cache: input.cache,
      promptVersion: input.promptVersion,
    };
    const validate = input.responseSchema ? validatorFor(input.responseSchema) : undefined;
    const first = await ctx.step('complete', () =>
      ctx.models.chat({
        ...call,
        step: 'complete',
        ...(validate && { cacheable: (content: string) => checkJson(content, validate).ok }),
      }),
    );
    const summary = (r: ChatCallResult, usage: CallUsage = r.usage) => ({
      model: r.model,
      usage,
      cached: r.cached,
      fallbackUsed: r.fallbackUsed,
    });
    if (!validate) return { content: first.content, ...summary(first) };

    const checked = checkJson(first.content, validate);
    if (checked.ok) return { object: checked.value, ...summary(first) };

    ctx.log.info({ errors: checked.errors }, 'structured output invalid; one repair call');
    if (input.stream) ctx.emit({ text: '', restart: true });
    const repaired = await ctx.step('repair', () =>
      ctx.models.chat({
        ...call,
        messages: [
          ...input.messages,
          { role: 'assistant', content: first.content },
          { role: 'user', content: REPAIR_PROMPT(checked.errors) },
        ],
        cache: 'off',
        step: 'repair',
      }),
    );
    const again = checkJson(repaired.content, validate);
    if (!again.ok) {
      throw new SpoolError(
        'output_validation_failed',
        `the answer did not match responseSchema after one repair: ${again.errors.slice(0, 3).join('; ')}`,
        {
          retryable: false,
          details: again.errors,
        },
      );
    }
    return {
      object: again.value,
      ...summary(repaired, addUsage(first.usage, repaired.usage)),
      fallbackUsed: first.fallbackUsed || repaired.fallbackUsed,
    };
  },
});
