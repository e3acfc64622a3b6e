import { describe, expect, it } from 'vitest';
import { SpoolError } from '../errors.ts';
import { classifyError, parseDuration, retryAfterFromHeaders, retryDelayMs, withRetries } from './resilience.ts';

const apiError = (status: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${status} status`), { status, headers: new Headers(), ...extra });

describe('classifyError', () => {
  it('classifies by status and code', () => {
    expect(classifyError(apiError(429))).toMatchObject({ class: 'rate_limit', retryable: true, breaker: false });
    expect(classifyError(apiError(429, { code: 'insufficient_quota' }))).toMatchObject({
      class: 'quota',
      retryable: false,
      fallback: true,
    });
    expect(classifyError(apiError(500))).toMatchObject({ class: 'server', retryable: true, breaker: true });
    expect(classifyError(apiError(503))).toMatchObject({ class: 'server', retryable: true });
    expect(classifyError(apiError(408))).toMatchObject({ class: 'timeout', retryable: true });
    expect(classifyError(apiError(400))).toMatchObject({ class: 'bad_request', retryable: false, fallback: false });
    expect(classifyError(apiError(400, { code: 'context_length_exceeded' }))).toMatchObject({
      class: 'context_length',
      retryable: false,
      fallback: true,
    });
    expect(classifyError(apiError(400, { code: 'content_filter' }))).toMatchObject({ class: 'content_filter', fallback: false });
    expect(classifyError(apiError(401))).toMatchObject({ class: 'auth', retryable: false, fallback: true });
    expect(classifyError(apiError(404))).toMatchObject({ class: 'not_found', fallback: true });
  });

  it('classifies transport failures by the SDK’s error names', () => {
    const named = (name: string) => Object.assign(new Error('x'), { name });
    expect(classifyError(named('APIConnectionTimeoutError')).class).toBe('timeout');
    expect(classifyError(named('APIConnectionError')).class).toBe('connection');
    expect(classifyError(named('APIUserAbortError')).class).toBe('canceled');
    expect(classifyError(new SyntaxError('Unexpected token'))).toMatchObject({ class: 'bad_response', retryable: true });
    expect(classifyError(new SpoolError('content_filter', 'filtered')).class).toBe('content_filter');
  });

  it('reads the advised wait from the headers', () => {
    expect(retryAfterFromHeaders(new Headers({ 'retry-after': '2' }))).toBe(2000);
    expect(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' }))).toBe(150);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterFromHeaders(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }), now)).toBe(3000);
    expect(retryAfterFromHeaders(new Headers({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }))).toBe(
      360_000,
    );
    expect(retryAfterFromHeaders(new Headers())).toBeUndefined();
    expect(classifyError(apiError(429, { headers: new Headers({ 'retry-after': '1' }) })).retryAfterMs).toBe(1000);
  });

  it('parses OpenAI durations', () => {
    expect(parseDuration('20ms')).toBe(20);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1h2m3s')).toBe(3_723_000);
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('retries', () => {
  const policy = { retries: 2, baseMs: 100, maxMs: 1000, maxWaitMs: 5000 };

  it('backs off exponentially with jitter, never below Retry-After', () => {
    expect(retryDelayMs(policy, 1, undefined, () => 0)).toBe(50);
    expect(retryDelayMs(policy, 1, undefined, () => 1)).toBe(100);
    expect(retryDelayMs(policy, 3, undefined, () => 1)).toBe(400);
    expect(retryDelayMs(policy, 10, undefined, () => 1)).toBe(1000);
    expect(retryDelayMs(policy, 1, 700, () => 1)).toBe(700);
  });

  it('stops at a non-retryable class and after the retries', async () => {
    const signal = new AbortController().signal;
    let tries = 0;
    await expect(
      withRetries(
        policy,
        signal,
        async () => {
          tries++;
          throw apiError(400);
        },
        () => {},
      ),
    ).rejects.toMatchObject({ classified: { class: 'bad_request' } });
    expect(tries).toBe(1);
    tries = 0;
    const seen: string[] = [];
    await expect(
      withRetries(
        { ...policy, baseMs: 1 },
        signal,
        async () => {
          tries++;
          throw apiError(500);
        },
        (c, n) => {
          seen.push(`${n}:${c.class}`);
        },
      ),
    ).rejects.toMatchObject({ status: 500 });
    expect(tries).toBe(3);
    expect(seen).toEqual(['1:server', '2:server', '3:server']);
  });

  it('does not wait out a Retry-After longer than maxWaitMs', async () => {
    let tries = 0;
    const long = apiError(429, { headers: new Headers({ 'retry-after': '60' }) });
    await expect(
      withRetries(
        policy,
        new AbortController().signal,
        async () => {
          tries++;
          throw long;
        },
        () => {},
      ),
    ).rejects.toBe(long);
    expect(tries).toBe(1);
  });
});
