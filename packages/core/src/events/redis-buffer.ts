/**
 * The Redis side of events: every event is published on the job's channel for live
 * subscribers. Events not yet in PostgreSQL (progress, steps, tokens) are also kept in a
 * short per-job buffer, so a replay includes what is published but not yet batched.
 */
import type { Redis } from 'ioredis';
import { eventKey, type JobEvent } from './types.ts';

// An hour is far longer than a batch flush takes; the cap bounds a runaway token stream.
const BUFFER_TTL_S = 3_600;
const BUFFER_MAX_EVENTS = 5_000;

/**
 * Every attempt takes a fence before its claim: a number above every earlier fence of the job
 * (Redis's clock in ms, or one more than the last), kept beside the buffer, returned with the
 * highest seq buffered so far. An append that carries an older fence is refused, so a worker
 * that lost the job (a stall, a partition) cannot number events once another has taken over:
 * every seq the new attempt numbers is above what the old one could still add. A fence that
 * lapsed with the buffer (an hour without events) is replaced by the clock, still above it.
 */
const BEGIN = `
local t = redis.call('TIME')
local fence = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current >= fence then fence = current + 1 end
redis.call('SET', KEYS[2], string.format('%d', fence), 'EX', ARGV[1])
local tail = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
return {fence, tail[2] or '0'}
`;

// ARGV: fence ('' for none), ttl, cap, then seq and event pairs. Returns 0 when fenced out.
const APPEND = `
local current = redis.call('GET', KEYS[2])
if ARGV[1] ~= '' and current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('PUBLISH', KEYS[1], ARGV[i + 1])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if current then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
`;

type Scripted = Redis & {
  spoolAppendEvents(key: string, fenceKey: string, ...args: (string | number)[]): Promise<number>;
  spoolBeginAttempt(key: string, fenceKey: string, ttl: number): Promise<[number, string]>;
};

export class EventBuffer {
  private readonly redis: Scripted;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('spoolAppendEvents' in redis)) {
      redis.defineCommand('spoolAppendEvents', { numberOfKeys: 2, lua: APPEND });
      redis.defineCommand('spoolBeginAttempt', { numberOfKeys: 2, lua: BEGIN });
    }
    this.redis = redis as Scripted;
  }

  /** Fences out every earlier attempt of the job; returns the new fence and the highest buffered seq. */
  async begin(jobId: string): Promise<{ fence: number; lastSeq: number }> {
    const key = eventKey(this.prefix, jobId);
    const [fence, lastSeq] = await this.redis.spoolBeginAttempt(key, `${key}:fence`, BUFFER_TTL_S);
    return { fence, lastSeq: Number(lastSeq) };
  }

  /**
   * Buffers and publishes events not yet in PostgreSQL, in one round trip. False, and nothing
   * written, when `fence` is older than the job's latest: another attempt has begun since.
   */
  async append(jobId: string, events: JobEvent[], fence?: number): Promise<boolean> {
    const key = eventKey(this.prefix, jobId);
    const args: (string | number)[] = [fence ?? '', BUFFER_TTL_S, BUFFER_MAX_EVENTS];
    for (const e of events) args.push(e.seq, JSON.stringify(e));
    return (await this.redis.spoolAppendEvents(key, `${key}:fence`, ...args)) === 1;
  }

  /** Publishes events already committed to PostgreSQL (state changes): nothing to buffer. */
  async publish(jobId: string, event: JobEvent): Promise<void> {
    await this.redis.publish(eventKey(this.prefix, jobId), JSON.stringify(event));
  }

  /** Buffered events after `afterSeq`, in order. */
  async after(jobId: string, afterSeq: number): Promise<JobEvent[]> {
    const raw = await this.redis.zrangebyscore(eventKey(this.prefix, jobId), `(${afterSeq}`, '+inf');
    return raw.map((s) => JSON.parse(s) as JobEvent);
  }

  /** The highest buffered seq (0 if none): a new attempt must number its events above it. */
  async lastSeq(jobId: string): Promise<number> {
    const tail = await this.redis.zrange(eventKey(this.prefix, jobId), -1, -1, 'WITHSCORES');
    return tail[1] ? Number(tail[1]) : 0;
  }
}
