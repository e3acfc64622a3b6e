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
  /** When the TPM window the tokens were counted in ends (ms since epoch, this process's clock). */
  windowEndsAt?: number;
}

// Sets the pause key only if it would pause longer than the one already set.
const PAUSE = `local cur = redis.call('PTTL', KEYS[1])
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1`;

// Gives points back only to the window they were taken from. `reward` would recreate an
// expired key below zero and so enlarge the next window; a key recreated since ends later
// than the caller's window (by at least a window minus ARGV[2]'s slack), so it is left alone.
const GIVE_BACK = `local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and ttl <= tonumber(ARGV[2]) then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return false`;
// Slack for the time between Redis reporting a window's TTL and this process reading it.
const GIVE_BACK_SLACK_MS = 100;

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
      const rpm = await this.take(this.requests, 1);
      if (!rpm.ok) {
        await this.wait(rpm.waitMs, signal);
        continue;
      }
      const tpm: Taken = tokens > 0 ? await this.take(this.tokensPer, tokens) : { ok: true };
      if (!tpm.ok) {
        await this.giveBack(this.requests, 1, rpm.windowEndsAt);
        await this.wait(tpm.waitMs, signal);
        continue;
      }
      return { tokens, waitedMs: Math.round(performance.now() - started), windowEndsAt: tpm.windowEndsAt };
    }
  }

  /** Corrects a reservation with the tokens the provider reported (0 for a failed call). */
  async settle(reservation: Reservation, actualTokens: number): Promise<void> {
    if (!this.tokensPer) return;
    const delta = Math.round(actualTokens) - reservation.tokens;
    // Over the estimate: charged to the current window (a new one if the call outlived its own).
    if (delta > 0) await this.tokensPer.penalty(this.name, delta);
    // Under it: given back only while the window it was reserved in lasts.
    else if (delta < 0) await this.giveBack(this.tokensPer, -delta, reservation.windowEndsAt);
  }

  /** How long this model is still paused for every process (0 when it is not). */
  async pausedMs(): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.pauseKey));
  }

  /** Pauses this model for every process (a 429's Retry-After). */
  async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    await this.redis.eval(PAUSE, 1, this.pauseKey, String(Math.ceil(ms)));
  }

  /** Consumes `points`: admitted (and when that window ends), or the ms until the window frees up. */
  private async take(limiter: RateLimiterRedis | undefined, points: number): Promise<Taken> {
    if (!limiter) return { ok: true };
    try {
      const res = await limiter.consume(this.name, points);
      return { ok: true, windowEndsAt: Date.now() + res.msBeforeNext };
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) throw rejected;
      // A rejected consume still counted its points: give them back so smaller calls can fit.
      await this.giveBack(limiter, points, Date.now() + rejected.msBeforeNext);
      return { ok: false, waitMs: rejected.msBeforeNext };
    }
  }

  private async giveBack(limiter: RateLimiterRedis | undefined, points: number, windowEndsAt: number | undefined) {
    if (!limiter || points <= 0 || windowEndsAt === undefined) return;
    const remaining = windowEndsAt - Date.now();
    if (remaining <= 0) return;
    await this.redis.eval(GIVE_BACK, 1, limiter.getKey(this.name), String(points), String(remaining + GIVE_BACK_SLACK_MS));
  }

  // A little jitter so the processes that waited on one window do not all retry at once.
  private async wait(ms: number, signal: AbortSignal): Promise<void> {
    await sleep(Math.max(1, ms) + Math.floor(Math.random() * 25), undefined, { signal });
  }
}

type Taken = { ok: true; windowEndsAt?: number } | { ok: false; waitMs: number };
