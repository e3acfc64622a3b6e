/**
 * Group commit: callers that arrive while earlier writes are in flight are written together in
 * the next one, so under load one PostgreSQL statement (one commit, one socket write) serves
 * many callers, and an idle process adds no delay (a lone caller is written at once). Used for
 * submissions (API) and for claims and closing writes (worker); bench/ measured one commit per
 * job as the main cost of both paths.
 */
export interface GroupCommitOptions {
  /** Writes in flight at once; more callers wait and join the next write. */
  maxInFlight: number;
  /** Items per write at most (a caller's items are never split). */
  maxItems: number;
  /**
   * A write still unsettled after this long stops counting against `maxInFlight` (its callers
   * keep waiting for it). postgres.js has no query timeout: without this, writes hung on a
   * dead connection (a network partition) would hold every slot and stall all later callers
   * after PostgreSQL is back. Default 2 s, far above a normal statement.
   */
  slotTimeoutMs?: number;
}

interface Waiting<I, R> {
  items: I[];
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<I, R> {
  private readonly waiting: Waiting<I, R>[] = [];
  private inFlight = 0;

  constructor(
    private readonly write: (items: I[]) => Promise<R>,
    private readonly opts: GroupCommitOptions,
  ) {}

  /**
   * Writes `items` with whatever else is waiting; resolves with the result of the write that
   * carried them (shared with the other callers of that write), or rejects with its error.
   */
  run(items: I[]): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.waiting.length > 0) {
      const batch: Waiting<I, R>[] = [this.waiting.shift()!];
      let count = batch[0]!.items.length;
      while (this.waiting.length > 0 && count + this.waiting[0]!.items.length <= this.opts.maxItems) {
        const next = this.waiting.shift()!;
        count += next.items.length;
        batch.push(next);
      }
      this.inFlight++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        clearTimeout(timer);
        this.inFlight--;
        this.pump();
      };
      const timer = setTimeout(release, this.opts.slotTimeoutMs ?? 2_000);
      timer.unref?.();
      const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items);
      let written: Promise<R>;
      try {
        written = this.write(items);
      } catch (err) {
        written = Promise.reject(err); // a write that throws at once failed like any other
      }
      written
        .then(
          (result) => {
            for (const w of batch) w.resolve(result);
          },
          (err: unknown) => {
            for (const w of batch) w.reject(err);
          },
        )
        .finally(release);
    }
  }
}
