/**
 * Per-API-key request limits, shared by every API process through Redis. If Redis is
 * unreachable the limit is kept per process in memory rather than refusing every request.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { SpoolError } from '../errors.ts';

export interface KeyRateLimiter {
  /** Counts one request of this key; throws 429 `rate_limited` with Retry-After past the limit. */
  consume(keyId: string): Promise<void>;
}

export function createKeyRateLimiter(redis: Redis, prefix: string, perMinute: number): KeyRateLimiter | undefined {
  if (perMinute <= 0) return undefined;
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:ratelimit:key`,
    points: perMinute,
    duration: 60,
    insuranceLimiter: new RateLimiterMemory({ points: perMinute, duration: 60 }),
  });
  return {
    async consume(keyId) {
      try {
        await limiter.consume(keyId);
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        throw new SpoolError('rate_limited', `more than ${perMinute} requests a minute with this API key`, {
          status: 429,
          retryAfterMs: Math.max(1_000, res.msBeforeNext),
        });
      }
    },
  };
}
