/**
 * The worker's event path. State changes are committed with the state (see store/lease.ts)
 * and then published. Progress, step and token events go to Redis at once (live and
 * replayable) and to PostgreSQL in batches across all jobs of the process — never one
 * database round trip per progress call or per token.
 */
import type { Database } from '../db/client.ts';
import { type Logger, throttledWarn } from '../logger.ts';
import { eventsFlushed } from '../metrics.ts';
import { flushEvents, type PendingEvent } from '../store/events.ts';
import type { EventBuffer } from './redis-buffer.ts';
import type { JobEvent } from './types.ts';

export interface EventWriterOptions {
  /** How long an event may wait for its batch. */
  flushMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
}

export class EventWriter {
  private pending: (PendingEvent & { fence?: number | undefined })[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The batch being written, if any (one at a time), and the jobs it has events of. */
  private writing: { jobs: Set<string>; done: Promise<void> } | undefined;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  // Per event while Redis is down: one line per 10 s, with the count left out.
  private readonly publishFailed: (fields: Record<string, unknown>) => void;

  constructor(
    private readonly db: Database,
    readonly buffer: EventBuffer,
    private readonly log: Logger,
    opts: EventWriterOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 100;
    this.maxBatch = opts.maxBatch ?? 1_000;
    this.publishFailed = throttledWarn(log, 'event publish failed; events go to PostgreSQL only');
  }

  /**
   * A progress, step or token event of the attempt holding `fence`: live now, durable with the
   * next batch. Resolves false when the attempt has been fenced out (see redis-buffer.ts): the
   * event is then dropped, from Redis and from PostgreSQL alike. While Redis is unreachable,
   * events still go to PostgreSQL.
   */
  append(jobId: string, event: JobEvent, fence?: number, attempt?: number): Promise<boolean> {
    return this.buffer.append(jobId, [event], fence).then(
      (accepted) => {
        if (accepted) this.enqueue({ jobId, event, fence });
        return accepted;
      },
      (err: unknown) => {
        this.publishFailed({ err: String(err), jobId });
        // Unfenced by Redis: PostgreSQL fences it on the attempt instead (see flushEvents).
        this.enqueue({ jobId, event, fence, attempt });
        return true;
      },
    );
  }

  private enqueue(item: PendingEvent & { fence?: number | undefined }): void {
    this.pending.push(item);
    // A full batch goes at once, or as soon as the one in flight is written (see flush).
    if (this.pending.length >= this.maxBatch) {
      if (!this.writing) void this.flush();
    } else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /**
   * Removes and returns the attempt's events not yet in PostgreSQL (its closing write takes
   * them), once no batch in flight holds events of the job: a batch that committed after the
   * closing write would put events after the terminal one, and its progress would lose to the
   * closing write's stale one. A batch that fails gives its events back, and they are taken
   * here. Keyed by fence too: an attempt that lost the job must not take the new one's.
   */
  async take(jobId: string, fence?: number): Promise<PendingEvent[]> {
    while (this.writing?.jobs.has(jobId)) await this.writing.done;
    // Per closing write: most jobs (no progress events) find nothing waiting, so skip the copy.
    if (this.pending.length === 0) return [];
    const mine: PendingEvent[] = [];
    this.pending = this.pending.filter((p) => {
      if (p.jobId !== jobId || p.fence !== fence) return true;
      mine.push(p);
      return false;
    });
    return mine;
  }

  /**
   * Queues events that were published but are not in PostgreSQL: those a closing write took but
   * could not commit (fenced out), and those a dead attempt left only in the Redis buffer. Each
   * keeps its `attempt`, if it has one: not fenced by Redis, it is still fenced by PostgreSQL.
   */
  giveBack(events: PendingEvent[], fence?: number): void {
    for (const e of events) this.enqueue({ ...e, fence });
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // One batch at a time: two in flight could deadlock on the same job rows, and close() must
    // wait for every one.
    while (this.writing) await this.writing.done;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let failed = false;
    const done = flushEvents(this.db, batch)
      .then(() => {
        eventsFlushed.inc(batch.length);
      })
      .catch((err) => {
        // PostgreSQL is down: keep the events (they are in Redis meanwhile) and try again.
        failed = true;
        this.log.warn({ err, events: batch.length }, 'event batch failed; retrying');
        this.pending = batch.concat(this.pending);
        this.timer ??= setTimeout(() => void this.flush(), 1_000);
      })
      .finally(() => {
        this.writing = undefined;
        // A batch filled up meanwhile (after a failure, the retry waits for its timer).
        if (!failed && this.pending.length >= this.maxBatch) void this.flush();
      });
    this.writing = { jobs: new Set(batch.map((e) => e.jobId)), done };
    await done;
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
