/**
 * A circuit breaker per provider and model whose state lives in Redis, so every worker
 * process sees the same one: after `failures` consecutive failures it opens for `openMs`;
 * then one caller (anywhere) gets a half-open probe; the probe's success closes it, its failure
 * opens it again. Clock: Redis's own (TIME), so processes with skewed clocks still agree.
 *
 * Written here rather than taken from cockatiel/opossum: their breakers keep state in the
 * process, and the point of this one is that all workers share it.
 */
import type { Redis } from 'ioredis';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive failures that open the breaker (5). */
  failures: number;
  /** How long it stays open before a probe is let through (60 s). */
  openMs: number;
  /** A probe that never reports (its worker died) frees the slot after this long. */
  probeTimeoutMs?: number;
}

// The common prelude: now in ms from the Redis clock.
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS[1] breaker hash; ARGV openMs, probeTimeoutMs, ttlMs → {verdict, waitMs}
const ALLOW = `${NOW}
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {'closed', 0} end
if state == 'open' then
  local until_ = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0') + tonumber(ARGV[1])
  if now < until_ then return {'open', until_ - now} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'half_open', 0}
end
local probe = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now >= probe then
  redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]))
  return {'half_open', 0}
end
return {'open', probe - now}`;

// KEYS[1]; ARGV threshold, ttlMs → new state
const FAIL = `${NOW}
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then return 'open' end
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or n >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'open'
end
redis.call('HSET', KEYS[1], 'state', 'closed')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 'closed'`;

// KEYS[1] → 1. Frees a half-open breaker's probe slot: the next caller probes.
const ABANDON = `if redis.call('HGET', KEYS[1], 'state') == 'half_open' then redis.call('HSET', KEYS[1], 'probe_until', 0) end return 1`;

interface BreakerCommands {
  spoolBreakerAllow(key: string, openMs: number, probeMs: number, ttlMs: number): Promise<[BreakerState, number]>;
  spoolBreakerFail(key: string, threshold: number, ttlMs: number): Promise<BreakerState>;
  spoolBreakerAbandon(key: string): Promise<number>;
}

function commands(redis: Redis): BreakerCommands {
  const r = redis as Redis & Partial<BreakerCommands>;
  if (typeof r.spoolBreakerAllow !== 'function') {
    redis.defineCommand('spoolBreakerAllow', { numberOfKeys: 1, lua: ALLOW });
    redis.defineCommand('spoolBreakerFail', { numberOfKeys: 1, lua: FAIL });
    redis.defineCommand('spoolBreakerAbandon', { numberOfKeys: 1, lua: ABANDON });
  }
  return r as unknown as BreakerCommands;
}

export interface Admission {
  /** false: the breaker is open; `retryInMs` says when a probe may go. */
  allowed: boolean;
  state: BreakerState;
  retryInMs: number;
}

export class SharedBreaker {
  private readonly key: string;
  private readonly cmd: BreakerCommands;
  private readonly probeMs: number;
  // Breaker keys expire when a model has been quiet for a while: no garbage per model name.
  private readonly ttlMs: number;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly name: string,
    private readonly opts: BreakerOptions,
  ) {
    this.key = `${prefix}:breaker:${name}`;
    this.cmd = commands(redis);
    this.probeMs = opts.probeTimeoutMs ?? Math.max(opts.openMs, 30_000);
    this.ttlMs = Math.max(opts.openMs * 10, 3_600_000);
  }

  /** Asks to make a call. In the half-open state exactly one caller is let through. */
  async allow(): Promise<Admission> {
    const [state, wait] = await this.cmd.spoolBreakerAllow(this.key, this.opts.openMs, this.probeMs, this.ttlMs);
    return state === 'open' ? { allowed: false, state, retryInMs: Number(wait) } : { allowed: true, state, retryInMs: 0 };
  }

  /** A call succeeded: closed, failures forgotten. */
  async success(): Promise<void> {
    await this.redis.del(this.key);
  }

  /** A call failed in a way that counts against the provider. Returns the new state. */
  async failure(): Promise<BreakerState> {
    return this.cmd.spoolBreakerFail(this.key, this.opts.failures, this.ttlMs);
  }

  /** A probe that ends without a verdict (canceled, refused by a spend cap) gives its slot back. */
  async abandonProbe(): Promise<void> {
    await this.cmd.spoolBreakerAbandon(this.key);
  }

  async state(): Promise<BreakerState> {
    return ((await this.redis.hget(this.key, 'state')) as BreakerState | null) ?? 'closed';
  }
}
