/**
 * Follows one job's events in seq order with no gap and no duplicate: subscribe to the live
 * channel first, then replay from storage (PostgreSQL plus the Redis buffer of events not yet
 * batched), then continue with live events, skipping every seq already sent. Ends after the
 * terminal event.
 */
import type { Database } from '../db/client.ts';
import { eventsAfter } from '../store/events.ts';
import type { EventHub } from './hub.ts';
import type { EventBuffer } from './redis-buffer.ts';
import { isTerminalEvent, type JobEvent } from './types.ts';

export interface FollowOptions {
  db: Database;
  hub: EventHub;
  buffer: EventBuffer;
  jobId: string;
  /** Resume after this seq (Last-Event-ID); 0 replays from the start. */
  after: number;
  /**
   * The job had ended when the client asked: its whole history is in PostgreSQL (the closing
   * write takes the events still waiting for a batch), so the stream is a replay that needs
   * no live channel and works while Redis is down. The Redis buffer is still read, best effort,
   * for an event batch in flight at the end.
   */
  ended?: boolean;
  /**
   * Live events kept waiting for the consumer, at most. Past it they are dropped and read from
   * storage again once the consumer pulls: a burst, or a slow replay, costs a read, not memory.
   */
  maxBuffered: number;
  /**
   * Called as the live events waiting pass `maxBuffered`, also while the consumer is stuck
   * writing to a client that stopped reading: it never pulls again, so only it can act.
   */
  onOverflow?: () => void;
  signal?: AbortSignal;
  /** How long a missing seq is waited for before it is skipped (it can only be lost with Redis data). */
  gapWaitMs?: number;
}

export async function* followJob(o: FollowOptions): AsyncGenerator<JobEvent> {
  const live: JobEvent[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  let overflowed = false;
  // Storage holds an event this stream has not seen: its publish was lost (see hub.ts).
  let behind = false;
  let last = o.after;
  let highest = 0;
  const event = (e: JobEvent) => {
    if (overflowed) return;
    live.push(e);
    // Counted as events arrive, not when the consumer pulls: a consumer blocked in a write to
    // a client that does not read never pulls, and `live` grew without bound while the
    // socket stayed open. Past the cap, keep nothing more: every published event is already
    // in storage (the buffer's append publishes it), so the loop reads them there.
    if (live.length > o.maxBuffered) {
      overflowed = true;
      live.length = 0;
      o.onOverflow?.();
    }
    notify();
  };
  const stored = (seq: number) => {
    if (seq <= Math.max(last, highest)) return;
    behind = true;
    notify();
  };
  const unsubscribe = o.ended ? () => {} : await o.hub.subscribe(o.jobId, { event, stored });
  o.signal?.addEventListener('abort', notify, { once: true });
  try {
    const pending = new Map<number, JobEvent>();
    // A job's history can hold several terminal events: a retry (of a failed or canceled job)
    // follows one with more events. The stream ends at a terminal event only when no later
    // event is known, and ends at once when the latest event known is a terminal one at or
    // before `last` (a Last-Event-ID past the job's end: nothing after it can come; without
    // this the stream stayed open, and subscribed, forever instead of ending like a reconnect's 204).
    let endedAt = 0;
    const take = (events: JobEvent[]) => {
      for (const e of events) {
        highest = Math.max(highest, e.seq);
        if (isTerminalEvent(e)) endedAt = Math.max(endedAt, e.seq);
        if (e.seq > last && !pending.has(e.seq)) pending.set(e.seq, e);
      }
    };
    const replay = async () => {
      const [rows, buffered] = await Promise.all([
        eventsAfter(o.db, o.jobId, last),
        o.ended ? o.buffer.after(o.jobId, last).catch(() => []) : o.buffer.after(o.jobId, last),
      ]);
      take(rows);
      take(buffered);
    };
    await replay();
    let gapSince: number | undefined;

    while (!o.signal?.aborted) {
      if (overflowed || behind) {
        // Events were dropped while the consumer was busy (a burst in one read from Redis, or
        // the replay above was slow), or never arrived: what arrives from now on is kept, the
        // rest is stored.
        overflowed = false;
        behind = false;
        await replay();
        continue;
      }
      take(live.splice(0));
      const next = pending.get(last + 1);
      if (next) {
        pending.delete(next.seq);
        last = next.seq;
        gapSince = undefined;
        yield next;
        if (isTerminalEvent(next) && highest === next.seq) return;
        continue;
      }
      if (endedAt > 0 && endedAt === highest && highest <= last) return;
      // A replay of an ended job: nothing is pending, so nothing more can come.
      if (o.ended && pending.size === 0) return;
      if (pending.size > 0) {
        // A later seq is here but not the next one: read storage again, then wait a little.
        if (gapSince === undefined) {
          gapSince = Date.now();
          await replay();
          continue;
        }
        if (Date.now() - gapSince > (o.gapWaitMs ?? 2_000)) {
          last = Math.min(...pending.keys()) - 1;
          continue;
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (pending.size > 0) setTimeout(resolve, 100);
      });
    }
  } finally {
    unsubscribe();
  }
}
