/**
 * Cron expressions as BullMQ's job schedulers read them (cron-parser 4, the version BullMQ
 * itself depends on), checked at the API so a bad one is a 422 and not a scheduler that never
 * fires.
 */
import cronParser from 'cron-parser';
import { SpoolError } from '../errors.ts';

// cron-parser 4 is CommonJS: its functions hang off the default export under Node's ESM.
const { parseExpression } = cronParser;

// cron-parser fills in missing fields ("" and "* * * *" parse as every minute): a typo would
// silently become "every minute", so the field count is checked first.
const FIELD_COUNTS = new Set([5, 6]);
const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly']);

/** The zone a schedule's expression is read in: its own, else UTC (never the host's local time). */
export const scheduleZone = (tz: string | null | undefined): string => tz ?? 'UTC';

/** Throws 422 `invalid_timezone` unless `tz` is an IANA zone this runtime knows. */
export function assertTimezone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new SpoolError('invalid_timezone', `"${tz}" is not an IANA time zone (e.g. "Europe/Paris", "UTC")`, { status: 422 });
  }
}

/**
 * Throws 422 `invalid_cron` unless `cron` has 5 fields (minute first) or 6 (second first), or is
 * a macro such as `@daily`, and fires at least once in the future.
 *
 * @example assertCron('0 3 * * *', 'Europe/Paris') // every day at 03:00 Paris time
 */
export function assertCron(cron: string, tz?: string | null): void {
  if (tz) assertTimezone(tz);
  const trimmed = cron.trim();
  const fields = trimmed.split(/\s+/).length;
  if (!(MACROS.has(trimmed.toLowerCase()) || (trimmed !== '' && FIELD_COUNTS.has(fields)))) {
    throw invalid(
      cron,
      `expected 5 fields ("minute hour day month weekday") or 6 (seconds first), got ${trimmed === '' ? 0 : fields}`,
    );
  }
  try {
    parseExpression(trimmed, { tz: scheduleZone(tz) }).next();
  } catch (err) {
    throw invalid(cron, err instanceof Error ? err.message : String(err));
  }
}

/** When `cron` fires next after `from` (null if never). The expression must have passed assertCron. */
export function nextRun(cron: string, tz: string | null, from = new Date()): Date | null {
  try {
    return parseExpression(cron.trim(), { tz: scheduleZone(tz), currentDate: from })
      .next()
      .toDate();
  } catch {
    return null;
  }
}

const invalid = (cron: string, why: string) =>
  new SpoolError('invalid_cron', `"${cron}" is not a valid cron expression: ${why}`, { status: 422, details: { cron } });
