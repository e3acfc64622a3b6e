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
/** The expression as cron-parser reads it: trimmed, a macro in lower case (`@DAILY` was "cannot resolve alias dai"). */
const expression = (cron: string): string => {
  const trimmed = cron.trim();
  return MACROS.has(trimmed.toLowerCase()) ? trimmed.toLowerCase() : trimmed;
};

export const scheduleZone = (tz: string | null | undefined): string => tz ?? 'UTC';

/** Throws 422 `invalid_timezone` unless `tz` is an IANA zone this runtime knows. */
export function assertTimezone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new SpoolError('invalid_timezone', `"${tz}" is not an IANA time zone (e.g. "Europe/Paris", "UTC")`, { status: 422 });
  }
}

// How far ahead an expression must fire to be accepted. cron-parser looks for a firing a day at
// a time, up to 10,000 steps (~0.35 s of CPU in a zone): an impossible date (`0 0 31 4,6 *`)
// cost that much on every create. Five years of days covers the rarest calendar date (29
// February) and bounds the check to ~1,800 steps, read in UTC (a few ms): whether an
// expression fires does not depend on the zone.
const HORIZON_MS = 5 * 366 * 86_400_000;

/**
 * Throws 422 `invalid_cron` unless `cron` has 5 fields (minute first) or 6 (second first), or is
 * a macro such as `@daily`, and fires within the next five years.
 *
 * @example assertCron('0 3 * * *', 'Europe/Paris') // every day at 03:00 Paris time
 */
export function assertCron(cron: string, tz?: string | null): void {
  if (tz) assertTimezone(tz);
  const trimmed = expression(cron);
  const fields = trimmed.split(/\s+/).length;
  if (!(MACROS.has(trimmed) || (trimmed !== '' && FIELD_COUNTS.has(fields)))) {
    throw invalid(
      cron,
      `expected 5 fields ("minute hour day month weekday") or 6 (seconds first), got ${trimmed === '' ? 0 : fields}`,
    );
  }
  try {
    const now = Date.now();
    parseExpression(trimmed, { tz: 'UTC', currentDate: new Date(now), endDate: new Date(now + HORIZON_MS) }).next();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw invalid(cron, why === 'Out of the timespan range' ? 'it does not fire within the next five years' : why);
  }
}

/**
 * When `cron` fires next after `from` (null if never). The expression must have passed
 * assertCron. Every schedule read asks this, and cron-parser takes ~0.5 ms for a daily
 * expression in a zone and ~50 ms for a leap day, so each answer is kept until its firing
 * passes: a page of 100 schedules no longer parses 100 expressions.
 */
export function nextRun(cron: string, tz: string | null, from = new Date()): Date | null {
  const at = from.getTime();
  const key = `${scheduleZone(tz)}\n${cron}`;
  let known = answers.get(key);
  if (!known || at < known.from || (known.next !== undefined && at >= known.next)) {
    known = { from: at, next: nextFiring(cron, tz, at) };
    answers.delete(key); // re-inserted last: the oldest answer goes first when full
    answers.set(key, known);
    if (answers.size > MAX_ANSWERS) answers.delete(answers.keys().next().value!);
  }
  return known.next === undefined ? null : new Date(known.next);
}

// No firing lies between `from` and `next`, so any instant in [from, next) has the same answer.
const answers = new Map<string, { from: number; next: number | undefined }>();
const MAX_ANSWERS = 10_000; // the schedules of 10 tenants at their limit; ~1 MB

/**
 * BullMQ's repeat strategy for Spool's schedulers (queue and worker), so that the ticks it
 * places are the times `nextRunAt` shows.
 */
export const repeatStrategy = (millis: number, opts: { pattern?: string; tz?: string | null }): number | undefined =>
  opts.pattern ? nextFiring(opts.pattern, opts.tz ?? null, millis) : undefined;

/**
 * The first firing of `cron` after `from` (ms), read in `tz`. cron-parser 4 (BullMQ's) skips a
 * whole day when the expression's time falls in a DST gap that covers local midnight
 * (America/Santiago jumps from 00:00 to 01:00 one night a year: `0 0 * * *` went to the next
 * midnight), though it moves other missing times to the first instant after the gap (Paris
 * 02:30 → 03:30). So the expression is also read on the zone's wall clock, as if the zone had no
 * DST, and the earlier of the two wins: the wall-clock reading finds the skipped day, and
 * cron-parser's keeps the repeated hour of a fall-back night.
 */
function nextFiring(cron: string, tz: string | null, from: number): number | undefined {
  const zone = scheduleZone(tz);
  const next = (currentDate: number, zoneOf: string) => {
    try {
      return parseExpression(expression(cron), { tz: zoneOf, currentDate: new Date(currentDate) })
        .next()
        .getTime();
    } catch {
      return undefined; // no firing left
    }
  };
  let direct = next(from, zone);
  if (zone === 'UTC') return direct;
  // A fall-back night repeats local times. cron-parser does not fire a fixed hour again when the
  // clock goes back an hour, but does when it goes back half an hour (Australia/Lord_Howe:
  // `30 1 * * *` fired at 01:30 +11 and again at 01:30 +10:30). A firing whose wall-clock time
  // is not after `from`'s is such a repeat; a fixed-hour expression fires once, as elsewhere.
  while (direct !== undefined && fixedHour(cron) && wallClock(direct, zone) <= wallClock(from, zone)) {
    direct = next(direct, zone);
  }
  const wall = next(wallClock(from, zone), 'UTC');
  const viaWall = wall === undefined ? undefined : instantOf(wall, zone);
  if (viaWall === undefined || viaWall <= from) return direct;
  return direct === undefined || viaWall < direct ? viaWall : direct;
}

const DAY_MS = 86_400_000;

/** Whether the expression names its hours (`30 1 * * *`, `@daily`) rather than every hour (`*`, `@hourly`). */
function fixedHour(cron: string): boolean {
  const fields = cron.trim().split(/\s+/);
  if (fields.length === 1) return fields[0]!.toLowerCase() !== '@hourly';
  return !fields[fields.length === 6 ? 2 : 1]!.includes('*');
}

/** The zone's wall-clock time at `instant`, written as if it were UTC (ms). */
function wallClock(instant: number, zone: string): number {
  const parts = Object.fromEntries(
    wallFormat(zone)
      .formatToParts(new Date(instant))
      .map((p) => [p.type, Number(p.value)]),
  );
  const seconds = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return seconds + (((instant % 1000) + 1000) % 1000);
}

/**
 * The instant the zone's clock shows `wall` (ms, written as UTC): the first of two on a
 * fall-back night; on a spring-forward night, a time the clock skips is moved forward by the
 * gap (02:30 → 03:30), as cron-parser moves it.
 */
function instantOf(wall: number, zone: string): number {
  const before = wall - (wallClock(wall - DAY_MS, zone) - (wall - DAY_MS));
  const after = wall - (wallClock(wall + DAY_MS, zone) - (wall + DAY_MS));
  const shown = [before, after].filter((t) => wallClock(t, zone) === wall).sort((a, b) => a - b);
  return shown[0] ?? before;
}

const formats = new Map<string, Intl.DateTimeFormat>();
const wallFormat = (zone: string): Intl.DateTimeFormat => {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(zone, f);
  }
  return f;
};

const invalid = (cron: string, why: string) =>
  new SpoolError('invalid_cron', `"${cron}" is not a valid cron expression: ${why}`, { status: 422, details: { cron } });
