/**
 * A job type, defined once: name (also its BullMQ queue), input and output schemas, retry
 * policy, timeout, concurrency and handler. The API validates with `input`, the worker runs
 * `handle`, and `/v1/job-types` and the OpenAPI document are generated from the schemas.
 */
import type { z } from 'zod';
import type { Database } from '../db/client.ts';
import type { JobContext } from '../steps/context.ts';

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** First backoff; doubled each attempt, with jitter. */
  backoffMs: number;
  maxBackoffMs?: number;
}

export interface JobDefinition<I = unknown, O = unknown> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  output: z.ZodType<O>;
  retry: RetryPolicy;
  timeoutMs: number;
  concurrency: number;
  /** Largest input in tokens accepted at submit (413 past it, with the counts); needs `inputText`. */
  tokenBudget?: number;
  /** The text of an input that counts against `tokenBudget`. */
  inputText?(input: I): string;
  /** The type calls paid models: a tenant whose spend cap is used up cannot submit it (402). */
  usesModels?: boolean;
  /**
   * The type reads or writes the vector tables: refused at submit (422) where they are not
   * available. A function decides per input (checked after the schema).
   */
  needsVectors?: boolean | ((input: I) => boolean);
  /**
   * Checks of a valid input against stored state at submit, before anything is written (a
   * referenced document exists, …): throws a SpoolError with a 4xx status to refuse.
   */
  preflight?(input: I, scope: { db: Database; tenantId: string }): Promise<void>;
  handle(input: I, ctx: JobContext): Promise<O>;
}

export type AnyJobDefinition = JobDefinition<any, any>;

export function defineJob<I, O>(def: JobDefinition<I, O>): JobDefinition<I, O> {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`job type name must be kebab-case: ${def.name}`);
  if (def.retry.attempts < 1) throw new Error(`${def.name}: retry.attempts must be ≥ 1`);
  return def;
}

/**
 * Exponential backoff with jitter: attempt n waits between 50% and 100% of
 * backoffMs·2^(n-1), capped, and never less than a server's Retry-After.
 */
export function backoffDelay(policy: RetryPolicy, attemptsMade: number, retryAfterMs?: number): number {
  const cap = policy.maxBackoffMs ?? 3_600_000;
  const exp = Math.min(cap, policy.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = Math.round(exp / 2 + Math.random() * (exp / 2));
  return Math.max(jittered, retryAfterMs ?? 0);
}
