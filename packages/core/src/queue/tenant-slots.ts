/**
 * The per-tenant running-job cap (SPOOL_TENANT_CONCURRENCY), shared by every worker process:
 * a sorted set per tenant of the jobs holding a slot, scored by when the slot lapses, so a
 * slot of a killed worker frees itself and a takeover of the same job reuses its slot.
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
  /** True if the job may run now; it then holds a slot for at most `holdMs`. */
  acquire(tenantId: string, jobId: string, holdMs: number): Promise<boolean>;
  release(tenantId: string, jobId: string): Promise<void>;
}

export function createTenantSlots(redis: Redis, prefix: string, cap: number): TenantSlots | undefined {
  if (cap <= 0) return undefined;
  const key = (tenantId: string) => `${prefix}:tenant-running:${tenantId}`;
  return {
    async acquire(tenantId, jobId, holdMs) {
      const now = Date.now();
      return (await redis.eval(ACQUIRE, 1, key(tenantId), now, cap, jobId, now + holdMs, holdMs)) === 1;
    },
    async release(tenantId, jobId) {
      await redis.zrem(key(tenantId), jobId);
    },
  };
}
