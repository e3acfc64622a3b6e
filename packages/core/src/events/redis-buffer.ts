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

const APPEND = `
for i = 1, #ARGV - 2, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('PUBLISH', KEYS[1], ARGV[i + 1])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[#ARGV]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV - 1])
`;

type WithAppend = Redis & { spoolAppendEvents(key: string, ...args: (string | number)[]): Promise<unknown> };

export class EventBuffer {
  private readonly redis: WithAppend;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!('spoolAppendEvents' in redis)) redis.defineCommand('spoolAppendEvents', { numberOfKeys: 1, lua: APPEND });
    this.redis = redis as WithAppend;
  }

  /** Buffers and publishes events not yet in PostgreSQL, in one round trip. */
  async append(jobId: string, events: JobEvent[]): Promise<void> {
    const args: (string | number)[] = [];
    for (const e of events) args.push(e.seq, JSON.stringify(e));
    await this.redis.spoolAppendEvents(eventKey(this.prefix, jobId), ...args, BUFFER_TTL_S, BUFFER_MAX_EVENTS);
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
