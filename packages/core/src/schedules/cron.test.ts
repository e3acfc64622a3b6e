import { describe, expect, it } from 'vitest';
import { SpoolError } from '../errors.ts';
import { assertCron, nextRun } from './cron.ts';

const codeOf = (fn: () => void) => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SpoolError ? `${err.status} ${err.code}` : String(err);
  }
};

describe('cron expressions', () => {
  it('accepts 5 fields, 6 fields (seconds first) and macros', () => {
    for (const cron of ['0 3 * * *', '*/1 * * * * *', '0 0 * * 1-5', '@daily', ' 15 2 1 * * '])
      expect(
        codeOf(() => assertCron(cron)),
        cron,
      ).toBeUndefined();
  });

  it('refuses what cron-parser would silently fill in or cannot read', () => {
    for (const cron of ['', '* * * *', '* * * * * * *', 'garbage', '61 * * * *', 'a b c d e', '0 0 31 2 *']) {
      expect(
        codeOf(() => assertCron(cron)),
        cron,
      ).toBe('422 invalid_cron');
    }
  });

  it('refuses an unknown time zone with its own code', () => {
    expect(codeOf(() => assertCron('0 3 * * *', 'Mars/Olympus_Mons'))).toBe('422 invalid_timezone');
    expect(codeOf(() => assertCron('0 3 * * *', 'Europe/Paris'))).toBeUndefined();
  });

  it('computes the next run in the schedule’s zone', () => {
    const from = new Date('2026-01-15T12:00:00Z');
    expect(nextRun('0 3 * * *', null, from)?.toISOString()).toBe('2026-01-16T03:00:00.000Z');
    // 03:00 in Paris is 02:00 UTC in winter.
    expect(nextRun('0 3 * * *', 'Europe/Paris', from)?.toISOString()).toBe('2026-01-16T02:00:00.000Z');
    expect(nextRun('*/10 * * * * *', null, from)?.toISOString()).toBe('2026-01-15T12:00:10.000Z');
  });
});
