import { describe, expect, it } from 'vitest';
import { judge, nextDelay, parseRetryAfter } from './schedule.ts';

describe('judge', () => {
  it('2xx succeeds, 410 stops, 3xx and 5xx and timeouts retry', () => {
    expect(judge(204)).toEqual({ kind: 'success' });
    expect(judge(410)).toEqual({ kind: 'stop' });
    expect(judge(302)).toEqual({ kind: 'retry' });
    expect(judge(500)).toEqual({ kind: 'retry' });
    expect(judge(undefined)).toEqual({ kind: 'retry' });
  });
  it('honours Retry-After on 429/502/503/504 only', () => {
    expect(judge(429, '7')).toEqual({ kind: 'retry', retryAfterMs: 7_000 });
    expect(judge(503, '2')).toEqual({ kind: 'retry', retryAfterMs: 2_000 });
    expect(judge(500, '7')).toEqual({ kind: 'retry' });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('nextDelay', () => {
  it('follows the schedule with ±20 % jitter and ends when it is spent', () => {
    const delays = [0, 1_000, 10_000];
    for (let i = 0; i < 50; i++) {
      const d = nextDelay(delays, 3)!;
      expect(d).toBeGreaterThanOrEqual(8_000);
      expect(d).toBeLessThanOrEqual(12_000);
    }
    expect(nextDelay(delays, 4)).toBeUndefined();
    expect(nextDelay(delays, 2, 5_000)).toBe(5_000);
  });
});
