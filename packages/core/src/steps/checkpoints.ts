/**
 * The step runner's writes for one attempt. A step's output rides on the next step's start
 * (one statement instead of two per step): `ended()` only queues it, and it is written by the
 * next `start()`, by `flush()` before the attempt's closing write, or at the end of the
 * current event-loop turn if no step follows at once. A crash in that window runs the step
 * again on the next attempt, exactly as a crash inside the step would; nothing else is lost.
 */
import type { Database } from '../db/client.ts';
import type { JobError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type Checkpoint, checkpoint, type StepEnd } from '../store/steps.ts';

export class StepCheckpoints {
  private pending: StepEnd[] = [];
  // Every write not yet settled. Parallel steps write concurrently, on different connections,
  // so the last write begun may commit before an earlier one.
  private readonly inFlight = new Set<Promise<unknown>>();
  private scheduled = false;

  constructor(
    private readonly db: Database,
    private readonly jobId: string,
    private readonly attempt: number,
    private readonly log: Logger,
  ) {}

  /** Records the start of `name` (with any queued step ends); reports lease and cancellation. */
  start(name: string): Promise<Checkpoint> {
    return this.write(name);
  }

  /** Queues a completed step's output for the next write. */
  ended(name: string, output: unknown): void {
    this.pending.push({ name, outcome: { output } });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.pending.length > 0)
        void this.write(undefined).catch((err) => this.log.debug({ err }, 'step checkpoint failed; retried with the next'));
    });
  }

  /** Records a failed step at once (and any queued ends). */
  async failed(name: string, error: JobError): Promise<void> {
    this.pending.push({ name, outcome: { error } });
    await this.write(undefined);
  }

  /**
   * Waits for every write in flight and writes whatever is queued; called before the attempt's
   * closing write. A write still in flight after it would find the job closed and drop its step
   * ends: a completed step would run again on a retry.
   */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0 || this.pending.length > 0) {
      // A failed write queues its ends again, and the next turn of the loop writes them.
      if (this.inFlight.size > 0) await Promise.allSettled(this.inFlight);
      else await this.write(undefined);
    }
  }

  private async write(start: string | undefined): Promise<Checkpoint> {
    const ends = this.pending;
    this.pending = [];
    const written = checkpoint(this.db, this.jobId, this.attempt, ends, start);
    this.inFlight.add(written);
    try {
      return await written;
    } catch (err) {
      this.pending.unshift(...ends); // not written: the next write carries them
      throw err;
    } finally {
      this.inFlight.delete(written);
    }
  }
}
