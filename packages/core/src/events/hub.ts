/**
 * One Redis subscriber connection per API process, shared by every SSE stream: a job's
 * channel is subscribed while at least one client follows that job.
 *
 * Pub/sub delivers at most once: a message published while the subscriber reconnects is gone,
 * and an event written to PostgreSQL by a closing write whose reply was lost is never
 * published at all. A stream that missed its job's last event would wait forever, so the hub
 * also reads, every `checkMs`, the stored last seq of every job it follows (one statement for
 * all of them) and tells each follower; one that has not seen that seq reads storage.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { eventKey, type JobEvent } from './types.ts';

export interface Follower {
  /** A live event of the job. */
  event(event: JobEvent): void;
  /** The job's events in PostgreSQL reach `seq` (the periodic check). */
  stored(seq: number): void;
}

export interface HubOptions {
  /** The stored `last_seq` of each of these jobs (one statement); jobs not found are left out. */
  storedSeqs?: (jobIds: string[]) => Promise<Map<string, number>>;
  /** How often the stored seqs of followed jobs are read; 5 s by default. */
  checkMs?: number | undefined;
}

interface Channel {
  jobId: string;
  followers: Set<Follower>;
  ready: Promise<unknown>;
}

export class EventHub {
  private readonly byKey = new Map<string, Channel>();
  private readonly timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly sub: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
    private readonly opts: HubOptions = {},
  ) {
    sub.on('message', (key: string, message: string) => {
      const ch = this.byKey.get(key);
      if (!ch) return;
      let event: JobEvent;
      try {
        event = JSON.parse(message) as JobEvent;
      } catch {
        return;
      }
      for (const f of ch.followers) f.event(event);
    });
    if (opts.storedSeqs) {
      this.timer = setInterval(() => void this.check(), opts.checkMs ?? 5_000);
      this.timer.unref();
    }
  }

  /** Resolves once the subscription is live, so nothing published afterwards is missed. */
  async subscribe(jobId: string, follower: Follower): Promise<() => void> {
    const key = eventKey(this.prefix, jobId);
    let ch = this.byKey.get(key);
    if (!ch) {
      ch = { jobId, followers: new Set(), ready: this.sub.subscribe(key) };
      this.byKey.set(key, ch);
    }
    ch.followers.add(follower);
    try {
      await ch.ready;
    } catch (err) {
      this.drop(key, follower);
      throw err;
    }
    return () => this.drop(key, follower);
  }

  private drop(key: string, follower: Follower): void {
    const ch = this.byKey.get(key);
    if (!ch?.followers.delete(follower) || ch.followers.size > 0) return;
    this.byKey.delete(key);
    this.sub.unsubscribe(key).catch((err) => this.log.debug({ err, channel: key }, 'unsubscribe failed'));
  }

  /** Tells every follower its job's stored last seq. Skipped while the previous check runs. */
  async check(): Promise<void> {
    if (this.checking || this.byKey.size === 0 || !this.opts.storedSeqs) return;
    this.checking = true;
    try {
      const seqs = await this.opts.storedSeqs([...this.byKey.values()].map((ch) => ch.jobId));
      for (const ch of this.byKey.values()) {
        const seq = seqs.get(ch.jobId);
        if (seq !== undefined) for (const f of ch.followers) f.stored(seq);
      }
    } catch (err) {
      this.log.debug({ err }, 'stored seq check failed');
    } finally {
      this.checking = false;
    }
  }

  /** Whether the subscriber connection is up: without it a live stream would wait in silence. */
  get connected(): boolean {
    return this.sub.status === 'ready';
  }

  get channels(): number {
    return this.byKey.size;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
