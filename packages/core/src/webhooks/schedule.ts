/** When to try a webhook delivery again, and what a receiver's answer means. */

/** Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: about three days in all. */
export const DEFAULT_RETRY_DELAYS_MS = [
  0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
];

export type Verdict =
  | { kind: 'success' }
  /** 410 Gone: the receiver asked us to stop. */
  | { kind: 'stop' }
  | { kind: 'retry'; retryAfterMs?: number };

export function judge(statusCode: number | undefined, retryAfter?: string | null): Verdict {
  if (statusCode !== undefined && statusCode >= 200 && statusCode < 300) return { kind: 'success' };
  if (statusCode === 410) return { kind: 'stop' };
  if (statusCode !== undefined && [429, 502, 503, 504].includes(statusCode)) {
    const ms = parseRetryAfter(retryAfter);
    return ms === undefined ? { kind: 'retry' } : { kind: 'retry', retryAfterMs: ms };
  }
  // 3xx (never followed), other 4xx and 5xx, timeouts and connection errors.
  return { kind: 'retry' };
}

/** `Retry-After` as seconds or an HTTP date; capped at a day. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, 86_400_000);
}

/**
 * Delay before attempt `next` (2 = the first retry), or undefined when the schedule is spent.
 * ±20 % jitter spreads retries of many deliveries that failed together.
 */
export function nextDelay(delays: number[], next: number, retryAfterMs?: number): number | undefined {
  const base = delays[next - 1];
  if (base === undefined) return undefined;
  const jittered = Math.round(base * (0.8 + Math.random() * 0.4));
  return Math.max(jittered, retryAfterMs ?? 0);
}
