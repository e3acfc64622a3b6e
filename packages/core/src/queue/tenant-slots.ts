/**
 * A per-tenant cap shared by every worker process: of running jobs (SPOOL_TENANT_CONCURRENCY)
 * and of webhook deliveries in flight (SPOOL_WEBHOOK_TENANT_CONCURRENCY). A sorted set per
 * tenant of the items holding a slot, scored by when the slot lapses, so a slot of a killed
 * worker frees itself and a takeover of the same item reuses its slot.
 *
 * Jobs (and webhook deliveries) held back by the cap wait in the tenant's line, parked in
 * BullMQ's delayed set. The line is in BullMQ's own order: by priority (none first, then 1, 2,
 * …), then by submission (the score is the priority; equal scores sort by member, whose job id
 * is time-ordered). A release hands its slot to the first in line (the slot is held in that
 * job's name until it comes, so a newcomer cannot take it) and wakes it. Before, a held job came
 * back every 200–500 ms to try again: a backlog of one tenant cost Redis ~1,400 commands per job
 * and ran in no particular order.
 */
import { Job as BullJob, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';

// The set's own expiry (it goes with its tenant's last slot) only ever grows: each slot lapses
// by its score. Set to the latest acquirer's hold, a chat job's 11 minutes dropped the slot of
// an ingest running for an hour, and the tenant ran one job past its cap.
const KEEP_FOR = `
local function keepFor(key, ms)
  if redis.call('PTTL', key) < tonumber(ms) then redis.call('PEXPIRE', key, ms) end
end`;

// KEYS: slots, line. ARGV: now, cap, item, lapse, slot ttl, its member in the line, its place
// there (the job's priority). Returns -1 when the item holds a slot; else its place in line (0 first).
const ACQUIRE = `${KEEP_FOR}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  keepFor(KEYS[1], ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[6])
  return -1
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[7], ARGV[6])
redis.call('PEXPIRE', KEYS[2], 86400000)
return redis.call('ZRANK', KEYS[2], ARGV[6])`;

// KEYS: slots, line. ARGV: item, lapse, slot ttl. Frees the item's slot (if it held one) and
// hands it to the first in line, whose member ("<job id>\n<queue>") it returns.
const RELEASE = `${KEEP_FOR}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return nil end
local first = redis.call('ZPOPMIN', KEYS[2])[1]
if not first then return nil end
redis.call('ZADD', KEYS[1], ARGV[2], string.match(first, '^(.-)\\n'))
keepFor(KEYS[1], ARGV[3])
return first`;

type Scripted = Redis & {
  spoolSlotAcquire(slots: string, line: string, ...args: (string | number)[]): Promise<number>;
  spoolSlotRelease(slots: string, line: string, item: string, lapse: number, ttl: number): Promise<string | null>;
};

export interface TenantSlots {
  /**
   * Undefined if the job may go now (it then holds a slot for at most `holdMs`); else it joins
   * the tenant's line, and its place there (0 first).
   */
  acquireOrQueue(tenantId: string, job: Job & { id: string }, holdMs: number): Promise<number | undefined>;
  /**
   * Frees the item's slot and hands it to the first job in the tenant's line, held for it at
   * most `holdMs` until it comes; that job is woken in the background (see `wake`).
   */
  release(tenantId: string, itemId: string, holdMs?: number): Promise<void>;
}

/** The cap on running jobs: its sets are under `<prefix>:tenant-running` (worker and API). */
export const runningSlotsKey = (prefix: string) => `${prefix}:tenant-running`;

/**
 * `keyPrefix` names the cap: the tenant's sets are `<keyPrefix>:<tenantId>` and `…:line`.
 * `queue(name)` gives the queue of a job in line, so a release can wake it.
 */
export function createTenantSlots(
  redis: Redis,
  keyPrefix: string,
  cap: number,
  queue?: (name: string) => Queue,
): TenantSlots | undefined {
  if (cap <= 0) return undefined;
  const scripted = scripts(redis);
  const keys = slotKeys(keyPrefix);
  return {
    async acquireOrQueue(tenantId, job, holdMs) {
      const now = Date.now();
      const member = `${job.id}\n${job.queueName}`;
      const args = [now, cap, job.id, now + holdMs, holdMs, member, job.opts?.priority ?? 0];
      const place = Number(await scripted.spoolSlotAcquire(...keys(tenantId), ...args));
      return place === -1 ? undefined : place;
    },
    release: slotRelease(redis, keyPrefix, queue),
  };
}

/**
 * A release alone, for a process that frees slots without taking any, whatever cap the workers
 * run with: JobService, for a queued job it cancels (from the API or the dashboard). The job
 * may have just been handed the slot of one that ended; no worker will ever take it now, so
 * its slot would wait out its lapse (the type's timeout and a minute), the whole tenant held
 * back meanwhile if its cap is one. A job that holds no slot costs one ZREM.
 */
export function slotRelease(redis: Redis, keyPrefix: string, queue?: (name: string) => Queue): TenantSlots['release'] {
  const scripted = scripts(redis);
  const keys = slotKeys(keyPrefix);
  return async (tenantId, itemId, holdMs = 60_000) => {
    const handOver = (id: string) => scripted.spoolSlotRelease(...keys(tenantId), id, Date.now() + holdMs, holdMs);
    const first = await handOver(itemId);
    if (!first || !queue) return;
    // In the background: a release must not hold the caller's concurrency slot. A first in
    // line that will not come (canceled, finished) hands the slot on to the next, until one
    // comes or the line is empty: each hand-over takes a member off the line, so this ends.
    // (It stopped after 5: a sixth canceled job in a row kept the slot until it lapsed.)
    void (async () => {
      for (let member: string | null = first; member; ) {
        if (await wake(queue, member)) return;
        member = await handOver(member.slice(0, member.indexOf('\n')));
      }
    })().catch(() => {});
  };
}

const slotKeys = (keyPrefix: string) => (tenantId: string) =>
  [`${keyPrefix}:${tenantId}`, `${keyPrefix}:${tenantId}:line`] as const;

/** Per job: sent by hash (EVALSHA), as the event buffer's scripts are, not as a whole script each time. */
function scripts(redis: Redis): Scripted {
  if (!('spoolSlotAcquire' in redis)) {
    redis.defineCommand('spoolSlotAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('spoolSlotRelease', { numberOfKeys: 2, lua: RELEASE });
  }
  return redis as Scripted;
}

/**
 * Moves a job in line from BullMQ's delayed set to wait. False if it will not come for its
 * slot (gone or finished); true if it will (woken, already waiting, or running).
 */
async function wake(queue: (name: string) => Queue, member: string): Promise<boolean> {
  const [id, name] = member.split('\n') as [string, string];
  for (let tries = 0; tries < 3; tries++) {
    const job = await BullJob.fromId(queue(name), id);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'delayed') {
      return job!.promote().then(
        () => true,
        () => false,
      );
    }
    if (state === 'unknown' || state === 'completed' || state === 'failed') return false;
    if (state !== 'active') return true;
    // Active: it joined the line a moment ago and is on its way to the delayed set (or it came
    // by its own delay and runs in the slot held for it).
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
