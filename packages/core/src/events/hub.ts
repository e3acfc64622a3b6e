/**
 * One Redis subscriber connection per API process, shared by every SSE stream: a job's
 * channel is subscribed while at least one client follows that job.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { eventKey, type JobEvent } from './types.ts';

type Listener = (event: JobEvent) => void;

export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly ready = new Map<string, Promise<unknown>>();

  constructor(
    private readonly sub: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    sub.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      let event: JobEvent;
      try {
        event = JSON.parse(message) as JobEvent;
      } catch {
        return;
      }
      for (const fn of set) fn(event);
    });
  }

  /** Resolves once the subscription is live, so nothing published afterwards is missed. */
  async subscribe(jobId: string, fn: Listener): Promise<() => void> {
    const channel = eventKey(this.prefix, jobId);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.ready.set(channel, this.sub.subscribe(channel));
    }
    set.add(fn);
    try {
      await this.ready.get(channel);
    } catch (err) {
      this.drop(channel, fn);
      throw err;
    }
    return () => this.drop(channel, fn);
  }

  private drop(channel: string, fn: Listener): void {
    const set = this.listeners.get(channel);
    if (!set?.delete(fn) || set.size > 0) return;
    this.listeners.delete(channel);
    this.ready.delete(channel);
    this.sub.unsubscribe(channel).catch((err) => this.log.debug({ err, channel }, 'unsubscribe failed'));
  }

  /** Whether the subscriber connection is up: without it a live stream would wait in silence. */
  get connected(): boolean {
    return this.sub.status === 'ready';
  }

  get channels(): number {
    return this.listeners.size;
  }
}
