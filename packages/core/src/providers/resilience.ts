/**
 * Which provider failures are worth another try, and how long to wait before it. The
 * `openai` SDK's own retries are off (maxRetries: 0), so every HTTP attempt comes through
 * here: classified, counted by the breaker, and traced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SpoolError } from '../errors.ts';

export type ErrorClass =
  | 'rate_limit' // 429: wait (Retry-After) and retry; pauses the shared limiter
  | 'quota' // 429 insufficient_quota: the account is out of credit, retrying won't help
  | 'timeout'
  | 'connection'
  | 'server' // 5xx, 408, 409
  | 'bad_response' // a 2xx whose body is not what the API promises (malformed JSON, no choices)
  | 'context_length'
  | 'content_filter'
  | 'bad_request'
  | 'auth'
  | 'not_found'
  | 'breaker_open'
  | 'canceled';

export interface Classified {
  class: ErrorClass;
  /** Another try on the same provider may succeed. */
  retryable: boolean;
  /** The next model of the chain may succeed where this one failed. */
  fallback: boolean;
  /** Counts as a failure of the provider for its circuit breaker. */
  breaker: boolean;
  status?: number | undefined;
  /** The server's advice (Retry-After, retry-after-ms, x-ratelimit-reset-*). */
  retryAfterMs?: number | undefined;
  message: string;
}

const TABLE: Record<ErrorClass, Pick<Classified, 'retryable' | 'fallback' | 'breaker'>> = {
  rate_limit: { retryable: true, fallback: true, breaker: false },
  quota: { retryable: false, fallback: true, breaker: true },
  timeout: { retryable: true, fallback: true, breaker: true },
  connection: { retryable: true, fallback: true, breaker: true },
  server: { retryable: true, fallback: true, breaker: true },
  bad_response: { retryable: true, fallback: true, breaker: true },
  // A larger context window further down the chain may take it.
  context_length: { retryable: false, fallback: true, breaker: false },
  // The request itself is refused: another model would be a way around a policy, not a fix.
  content_filter: { retryable: false, fallback: false, breaker: false },
  bad_request: { retryable: false, fallback: false, breaker: false },
  auth: { retryable: false, fallback: true, breaker: true },
  not_found: { retryable: false, fallback: true, breaker: true },
  breaker_open: { retryable: false, fallback: true, breaker: false },
  canceled: { retryable: false, fallback: false, breaker: false },
};

interface HttpishError {
  status?: unknown;
  code?: unknown;
  type?: unknown;
  headers?: unknown;
  name?: unknown;
  message?: unknown;
  error?: unknown;
}

/** Maps anything a provider call threw to a class. */
export function classifyError(err: unknown): Classified {
  const e = (err ?? {}) as HttpishError;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const make = (cls: ErrorClass, extra: Partial<Classified> = {}): Classified => ({
    class: cls,
    ...TABLE[cls],
    message,
    ...extra,
  });
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';

  if (err instanceof SpoolError) {
    if (err.code in TABLE) return make(err.code as ErrorClass, { retryAfterMs: err.retryAfterMs });
    if (err.code === 'canceled' || err.code === 'aborted') return make('canceled');
  }
  if (name === 'APIUserAbortError' || name === 'AbortError') return make('canceled');
  if (name === 'APIConnectionTimeoutError' || name === 'TimeoutError') return make('timeout');
  if (name === 'APIConnectionError') return make('connection');
  if (err instanceof SyntaxError) return make('bad_response');

  const status = typeof e.status === 'number' ? e.status : undefined;
  if (status === undefined) {
    if (/ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|socket hang up|terminated|fetch failed/i.test(message))
      return make('connection');
    return make('bad_response');
  }
  const retryAfterMs = retryAfterFromHeaders(e.headers);
  const at = { status, retryAfterMs };
  if (status === 429) return code === 'insufficient_quota' ? make('quota', at) : make('rate_limit', at);
  if (status === 408) return make('timeout', at);
  if (status === 409 || status >= 500) return make('server', at);
  if (status === 401 || status === 403) return make('auth', at);
  if (status === 404) return make('not_found', at);
  if (code === 'context_length_exceeded' || /maximum context length|context length|too many tokens/i.test(message))
    return make('context_length', at);
  if (
    code === 'content_filter' ||
    code === 'content_policy_violation' ||
    /content (management )?policy|content filter/i.test(message)
  ) {
    return make('content_filter', at);
  }
  return make('bad_request', at);
}

function header(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The server's advised wait, in ms: `retry-after-ms`, else `Retry-After` (seconds or an
 * HTTP date), else the later of `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens`
 * (OpenAI's durations such as `1s`, `6m0s`, `20ms`).
 */
export function retryAfterFromHeaders(headers: unknown, now = Date.now()): number | undefined {
  const ms = Number(header(headers, 'retry-after-ms'));
  if (header(headers, 'retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = header(headers, 'retry-after');
  if (ra) {
    const secs = Number(ra);
    if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
    const date = Date.parse(ra);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const resets = [header(headers, 'x-ratelimit-reset-requests'), header(headers, 'x-ratelimit-reset-tokens')]
    .map((v) => (v ? parseDuration(v) : undefined))
    .filter((v): v is number => v !== undefined);
  return resets.length ? Math.max(...resets) : undefined;
}

/** "1h2m3.5s", "6m0s", "20ms", "1.5s", "3" (seconds) → ms. */
export function parseDuration(raw: string): number | undefined {
  const s = raw.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (const m of s.matchAll(re)) {
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    matched += m[0];
  }
  return matched.length === s.length && matched ? Math.round(total) : undefined;
}

export interface RetryPolicy {
  /** Retries after the first try (2 → at most 3 tries). */
  retries: number;
  baseMs: number;
  maxMs: number;
  /** A Retry-After longer than this is not waited for: the chain falls back instead. */
  maxWaitMs: number;
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random, so retries from many
 * workers spread out), never shorter than the server's advice.
 */
export function retryDelayMs(policy: RetryPolicy, retry: number, retryAfterMs?: number, random = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return Math.max(jittered, retryAfterMs ?? 0);
}

export interface TryOutcome<T> {
  ok: true;
  value: T;
}

/**
 * Runs `attempt` until it succeeds, a failure is not retryable, the retries run out, or the
 * advised wait is longer than `maxWaitMs`. Every failure is shown to `onFailure` first (to
 * count, trace, pause a limiter); it may answer 'stop' to end the tries. Throws the last failure, with its classification attached
 * as `classified`.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  attempt: (tryNumber: number) => Promise<T>,
  /** May answer 'stop' (or a promise of it); anything else lets the tries go on. */
  onFailure: (c: Classified, tryNumber: number, err: unknown) => unknown,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const c = signal.aborted ? stoppedBy(signal.reason ?? err) : classifyError(err);
      // 'stop': the caller knows better (the breaker just opened), no more tries here.
      const stop = (await onFailure(c, n, err)) === 'stop';
      if (stop || !triesAgain(policy, c, n) || signal.aborted) throw Object.assign(asError(err), { classified: c });
      await sleep(retryDelayMs(policy, n, c.retryAfterMs), undefined, { signal });
    }
  }
}

/** Whether `withRetries` makes another try after failure `c` of try `n` (unless stopped). */
export const triesAgain = (policy: RetryPolicy, c: Classified, n: number): boolean =>
  c.retryable && n <= policy.retries && (c.retryAfterMs === undefined || c.retryAfterMs <= policy.maxWaitMs);

/**
 * A try the job itself stopped, whatever its reason (canceled, its own timeout, its lease lost,
 * the worker shutting down): not the provider's failure, so neither counted by its breaker nor
 * traced as its error. Classified by reason, five jobs interrupted by a deploy opened the
 * breaker of a healthy provider for every tenant.
 */
function stoppedBy(reason: unknown): Classified {
  return { ...classifyError(reason), class: 'canceled', ...TABLE.canceled, status: undefined, retryAfterMs: undefined };
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** The classification `withRetries` attached to what it threw. */
export const classifiedOf = (err: unknown): Classified => (err as { classified?: Classified }).classified ?? classifyError(err);
