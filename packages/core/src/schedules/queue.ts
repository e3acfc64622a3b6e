/**
 * The `schedules` BullMQ queue. Each Spool schedule is one BullMQ job scheduler (id = the
 * schedule id) whose ticks are small jobs on this queue; the schedules worker turns a tick into
 * a Spool job (row first, then enqueued), because a Spool job must exist in PostgreSQL before
 * it exists in Redis. See docs/architecture.md, "Schedules".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, warnOnErrors } from '../logger.ts';
import { repeatStrategy, scheduleZone } from './cron.ts';
import type { ScheduleRow } from './store.ts';

export const SCHEDULE_QUEUE = 'schedules';

/** A tick carries only the schedule id: the worker reads the template from PostgreSQL. */
export interface TickData {
  scheduleId: string;
}

export interface Scheduler {
  queue: Queue<TickData>;
  /** Creates or replaces the BullMQ job scheduler of a schedule. */
  upsert(schedule: Pick<ScheduleRow, 'id' | 'cron' | 'timezone'>): Promise<void>;
  /** Removes it (no-op when missing). */
  remove(id: string): Promise<void>;
  /** Which of these schedules have a job scheduler in Redis with their expression and zone: one round trip. */
  matching(schedules: Pick<ScheduleRow, 'id' | 'cron' | 'timezone'>[]): Promise<Set<string>>;
  /** Every scheduler id Redis holds, in pages. */
  ids(): AsyncGenerator<string[]>;
  /** Waits, at most `timeoutMs`, until no tick of this schedule is being handled by a worker. */
  settled(id: string, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const TICK_OPTS = {
  // A tick that fails (PostgreSQL down) is tried again; the idempotency key of the tick keeps
  // it to one job. 5 tries with 1 s, 2 s, 4 s, 8 s backoff cover a short outage.
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 24 * 3_600, count: 1_000 },
};

export function createScheduler(connection: Redis, prefix: string, log: Logger): Scheduler {
  // Spool's repeat strategy: the next tick is placed where `nextRunAt` says (see cron.ts).
  const queue = new Queue<TickData>(SCHEDULE_QUEUE, { connection, prefix, settings: { repeatStrategy } });
  warnOnErrors(queue, log, 'schedules queue error');
  // BullMQ's own layout (job-scheduler.ts `isJobScheduler`): the `ic` field is written only for
  // job schedulers. Read directly so the reconciler checks a whole batch in one pipeline.
  const metaKey = (id: string) => `${prefix}:${SCHEDULE_QUEUE}:repeat:${id}`;
  const setKey = `${prefix}:${SCHEDULE_QUEUE}:repeat`;
  return {
    queue,
    async upsert(s) {
      await queue.upsertJobScheduler(
        s.id,
        // Always a zone: without one, BullMQ reads the pattern in the worker host's local time.
        { pattern: s.cron.trim(), tz: scheduleZone(s.timezone) },
        { name: 'tick', data: { scheduleId: s.id }, opts: TICK_OPTS },
      );
    },
    async remove(id) {
      await queue.removeJobScheduler(id);
    },
    async matching(schedules) {
      if (schedules.length === 0) return new Set();
      const pipe = connection.pipeline();
      // The hash upsert writes (storeJobScheduler.lua): `pattern` and `tz` as given.
      for (const s of schedules) pipe.hmget(metaKey(s.id), 'ic', 'pattern', 'tz');
      const replies = (await pipe.exec()) ?? [];
      return new Set(
        schedules
          .filter((s, i) => {
            const [err, fields] = replies[i] ?? [];
            const [ic, pattern, tz] = (fields as (string | null)[] | undefined) ?? [];
            return err === null && ic !== null && pattern === s.cron.trim() && tz === scheduleZone(s.timezone);
          })
          .map((s) => s.id),
      );
    },
    async *ids() {
      const page = 500;
      for (let start = 0; ; start += page) {
        const ids = await connection.zrange(setKey, start, start + page - 1);
        if (ids.length === 0) return;
        yield ids;
        if (ids.length < page) return;
      }
    },
    async settled(id, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const active = await queue.getActive();
        if (!active.some((tick) => tick.data?.scheduleId === id)) return;
        await sleep(50);
      }
    },
    close: () => queue.close(),
  };
}
