/**
 * A per-tenant cap shared by every worker process: of running jobs (SPOOL_TENANT_CONCURRENCY)
 * and of webhook deliveries in flight (SPOOL_WEBHOOK_TENANT_CONCURRENCY). A sorted set per
 * tenant of the items holding a slot, scored by when the slot lapses, so a slot of a killed
 * worker frees itself and a takeover of the same item reuses its slot.
 */
import type { Redis } from 'ioredis';

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`;

export interface TenantSlots {
  /** True if the item may go now; it then holds a slot for at most `holdMs`. */
  acquire(tenantId: string, itemId: string, holdMs: number): Promise<boolean>;
  release(tenantId: string, itemId: string): Promise<void>;
}

/** `keyPrefix` names the cap: the tenant's set is `<keyPrefix>:<tenantId>`. */
export function createTenantSlots(redis: Redis, keyPrefix: string, cap: number): TenantSlots | undefined {
  if (cap <= 0) return undefined;
  const key = (tenantId: string) => `${keyPrefix}:${tenantId}`;
  return {
    async acquire(tenantId, itemId, holdMs) {
      const now = Date.now();
      return (await redis.eval(ACQUIRE, 1, key(tenantId), now, cap, itemId, now + holdMs, holdMs)) === 1;
    },
    async release(tenantId, itemId) {
      await redis.zrem(key(tenantId), itemId);
    },
  };
}
