/**
 * Times as clients see them: ISO 8601 in UTC. Rows read through jsonb (or raw SQL) carry
 * timestamps in PostgreSQL's text form; they are turned into this everywhere the API answers.
 */
export const isoTime = (v: string | Date | null | undefined): string | null => (v ? new Date(v).toISOString() : null);

/** What `within` rejects with when the time is up. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * `p`, or a `TimeoutError` after `ms`: a bound on a wait for Redis, PostgreSQL or a handler.
 * The timer never keeps the process alive, and is cleared when `p` settles first.
 */
export function within<T>(ms: number, p: Promise<T>, what = 'no answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what} within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
