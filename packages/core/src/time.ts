/**
 * Times as clients see them: ISO 8601 in UTC. Rows read through jsonb (or raw SQL) carry
 * timestamps in PostgreSQL's text form; they are turned into this everywhere the API answers.
 */
import { z } from 'zod';

export const isoTime = (v: string | Date | null | undefined): string | null => (v ? new Date(v).toISOString() : null);

// Strict: Date.parse took `0` as the year 2000 and rolled 2026-02-30 over to 2 March, and a
// year past 9998 overflowed PostgreSQL's timestamps (a database error instead of a refusal).
const isoDay = z.iso.date();
const isoDateTime = z.iso.datetime({ offset: true, local: true });

/**
 * True for what a client may send as a time: an ISO 8601 date (`YYYY-MM-DD`) or date-time (with
 * or without an offset), from 1970 to 9998.
 * @example isClientTime('2026-11-23T13:05') // true; '2026-02-30', '10000' and '275760-09-13' are false
 */
export const isClientTime = (s: string): boolean =>
  (isoDay.safeParse(s).success || isoDateTime.safeParse(s).success) && s >= '1970' && s < '9999';

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
