/**
 * Redis connections. Producers (the API) fail fast so a submit never hangs on a dead Redis;
 * so do a worker's event writes (a closing write waits for its events' appends, and must not
 * wait for Redis to come back: the events go to PostgreSQL alone meanwhile). BullMQ's
 * connections and subscribers retry forever, as BullMQ requires.
 */
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis };

export type RedisRole = 'producer' | 'events' | 'worker' | 'subscriber';

export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    // Reconnect quickly but not in a hot loop: 50 ms, 100 ms, … up to 2 s.
    retryStrategy: (times) => Math.min(times * 50, 2_000),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000 },
    // Sent in one write per event-loop turn for all attempts of the process.
    events: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000, enableAutoPipelining: true },
    worker: { maxRetriesPerRequest: null, enableReadyCheck: false },
    subscriber: { maxRetriesPerRequest: null },
  };
  return new Redis(url, { ...common, ...byRole[role], ...extra });
}

/**
 * BullMQ must not lose keys under memory pressure: warn loudly unless Redis evicts nothing.
 * Returns the policy, or undefined when it cannot be read (managed Redis may forbid CONFIG).
 */
export async function checkEvictionPolicy(redis: Redis, warn: (msg: string) => void): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy && policy !== 'noeviction') {
      warn(`Redis maxmemory-policy is "${policy}": set it to "noeviction" or Redis may drop queued jobs`);
    }
    return policy;
  } catch {
    return undefined;
  }
}
