/**
 * Group commit for submissions: callers that arrive while earlier writes are in flight are
 * written together in the next one, so under load one PostgreSQL statement (one commit) and
 * one bulk add to Redis serve many requests, and an idle API adds no delay (a lone caller is
 * written at once). bench/ measured one commit per POST /v1/jobs as the submit path's cost.
 */
export interface GroupCommitOptions {
  /** Writes in flight at once; more callers wait and join the next write. */
  maxInFlight: number;
  /** Items per write at most (a caller's items are never split). */
  maxItems: number;
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
      const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items);
      this.write(items)
        .then(
          (result) => {
            for (const w of batch) w.resolve(result);
          },
          (err: unknown) => {
            for (const w of batch) w.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
