/**
 * Token-budget admission per provider and model, shared by every worker process through
 * Redis: requests per window (RPM) and tokens per window (TPM), fixed windows of
 * `windowMs` (60 s). A call reserves its tiktoken estimate before it goes out; the usage the
 * provider reports corrects the reservation after. A 429 pauses the model for everyone for
 * the advised time, not just for the job that got it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { ModelLimits } from './config.ts';

export type { ModelLimits };

export interface Reservation {
  tokens: number;
  /** How long admission waited (limits and pauses). */
  waitedMs: number;
}

// Sets the pause key only if it would pause longer than the one already set.
const PAUSE = `local cur = redis.call('PTTL', KEYS[1])
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1`;

export class SharedLimiter {
  private readonly requests: RateLimiterRedis | undefined;
  private readonly tokensPer: RateLimiterRedis | undefined;
  private readonly pauseKey: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly name: string,
    readonly limits: ModelLimits,
    /** The window of both limits (60 s; tests shorten it). Whole seconds. */
    windowMs = 60_000,
  ) {
    const duration = Math.max(1, Math.round(windowMs / 1000));
    const make = (kind: string, points: number) =>
      points > 0
        ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:limit:${kind}`, points, duration })
        : undefined;
    this.requests = make('rpm', limits.rpm);
    this.tokensPer = make('tpm', limits.tpm);
    this.pauseKey = `${prefix}:limit:pause:${name}`;
  }

  /**
   * Waits until this process may send a request of `estimate` tokens, and reserves them.
   * An estimate above the whole TPM limit reserves the whole window (it could never fit).
   */
  async admit(estimate: number, signal: AbortSignal): Promise<Reservation> {
    const started = performance.now();
    const tokens = Math.max(0, Math.round(this.limits.tpm > 0 ? Math.min(estimate, this.limits.tpm) : estimate));
    for (;;) {
      signal.throwIfAborted();
      const paused = await this.redis.pttl(this.pauseKey);
      if (paused > 0) {
        await this.wait(paused, signal);
        continue;
      }
      const rpm = await take(this.requests, this.name, 1);
      if (rpm !== true) {
        await this.wait(rpm, signal);
        continue;
      }
      const tpm = tokens > 0 ? await take(this.tokensPer, this.name, tokens) : true;
      if (tpm !== true) {
        await this.requests?.reward(this.name, 1);
        await this.wait(tpm, signal);
        continue;
      }
      return { tokens, waitedMs: Math.round(performance.now() - started) };
    }
  }

  /** Corrects a reservation with the tokens the provider reported (0 for a failed call). */
  async settle(reservation: Reservation, actualTokens: number): Promise<void> {
    if (!this.tokensPer) return;
    const delta = Math.round(actualTokens) - reservation.tokens;
    if (delta > 0) await this.tokensPer.penalty(this.name, delta);
    else if (delta < 0) await this.tokensPer.reward(this.name, -delta);
  }

  /** Pauses this model for every process (a 429's Retry-After). */
  async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    await this.redis.eval(PAUSE, 1, this.pauseKey, String(Math.ceil(ms)));
  }

  // A little jitter so the processes that waited on one window do not all retry at once.
  private async wait(ms: number, signal: AbortSignal): Promise<void> {
    await sleep(Math.max(1, ms) + Math.floor(Math.random() * 25), undefined, { signal });
  }
}

/** Consumes `points`: true, or the ms until the window frees up (the rejected points given back). */
async function take(limiter: RateLimiterRedis | undefined, key: string, points: number): Promise<true | number> {
  if (!limiter) return true;
  try {
    await limiter.consume(key, points);
    return true;
  } catch (rejected) {
    if (!(rejected instanceof RateLimiterRes)) throw rejected;
    // A rejected consume still counted its points: give them back so smaller calls can fit.
    await limiter.reward(key, points);
    return rejected.msBeforeNext;
  }
}
