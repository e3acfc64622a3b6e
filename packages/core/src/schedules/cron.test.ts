import { defaultRepeatStrategy } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { SpoolError } from '../errors.ts';
import { assertCron, nextRun, repeatStrategy } from './cron.ts';

// cron-parser as it is, with its parses counted.
const parses = vi.hoisted(() => ({ count: 0 }));
vi.mock('cron-parser', async (importOriginal) => {
  const real = (await importOriginal<{ default: typeof import('cron-parser') }>()).default;
  const parseExpression: typeof real.parseExpression = (...args) => {
    parses.count++;
    return real.parseExpression(...args);
  };
  return { default: { ...real, parseExpression } };
});

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
    for (const cron of ['0 3 * * *', '*/1 * * * * *', '0 0 * * 1-5', '@daily', '@DAILY', ' 15 2 1 * * '])
      expect(
        codeOf(() => assertCron(cron)),
        cron,
      ).toBeUndefined();
  });

  it('reads a macro in any case', () => {
    const from = new Date('2027-01-01T12:00:00Z');
    expect(nextRun('@Daily', 'Europe/Paris', from)).toEqual(nextRun('@daily', 'Europe/Paris', from));
  });

  it('refuses what cron-parser would silently fill in or cannot read', () => {
    for (const cron of ['', '* * * *', '* * * * * * *', 'garbage', '61 * * * *', 'a b c d e', '0 0 31 2 *']) {
      expect(
        codeOf(() => assertCron(cron)),
        cron,
      ).toBe('422 invalid_cron');
    }
  });

  it('refuses a date that never comes, and accepts a leap day', () => {
    // Neither 31 April nor 31 June exists; a February with five Mondays comes every 28 years.
    for (const cron of ['0 0 31 4,6 *', '0 0 * 2 1#5']) {
      expect(() => assertCron(cron, 'Europe/Paris'), cron).toThrow('it does not fire within the next five years');
    }
    expect(codeOf(() => assertCron('59 59 23 29 2 *', 'Europe/Paris'))).toBeUndefined();
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

  it('keeps each next run until it passes, and reads the expression again after', () => {
    const at = (iso: string) => nextRun('*/10 * * * * *', 'Europe/Paris', new Date(iso))?.toISOString();
    const before = parses.count;
    expect(at('2026-01-15T12:00:00Z')).toBe('2026-01-15T12:00:10.000Z');
    const one = parses.count - before; // a zone's expression is read twice (see nextFiring)
    expect(one).toBeGreaterThan(0);
    expect(at('2026-01-15T12:00:09.999Z')).toBe('2026-01-15T12:00:10.000Z');
    expect(parses.count - before).toBe(one);
    expect(at('2026-01-15T12:00:10Z')).toBe('2026-01-15T12:00:20.000Z');
    // A clock set back is not answered from the later reading.
    expect(at('2026-01-15T11:59:55Z')).toBe('2026-01-15T12:00:00.000Z');
    expect(parses.count - before).toBe(3 * one);
  });

  describe('across DST changes', () => {
    const localDay = (t: number, tz: string) => new Date(t).toLocaleDateString('sv-SE', { timeZone: tz });
    const localTime = (t: number, tz: string) => new Date(t).toLocaleString('sv-SE', { timeZone: tz });
    /** The first `n` firings after `from`, as BullMQ places them with `strategy`. */
    const firings = (strategy: (m: number, o: never) => unknown, cron: string, tz: string, from: string, n: number) => {
      const out: number[] = [];
      let m = Date.parse(from);
      while (out.length < n) {
        m = strategy(m, { pattern: cron, tz } as never) as number;
        out.push(m);
      }
      return out;
    };

    // [zone, just after a midnight tick, the local day whose midnight the clock skips]
    const skipsMidnight: [string, string, string][] = [
      ['America/Santiago', '2027-09-04T04:00:01Z', '2027-09-05'],
      ['Africa/Cairo', '2027-04-28T22:00:01Z', '2027-04-30'],
      ['America/Havana', '2027-03-13T05:00:01Z', '2027-03-14'],
      ['Atlantic/Azores', '2027-03-27T01:00:01Z', '2027-03-28'],
    ];
    for (const [tz, from, day] of skipsMidnight) {
      it(`a daily midnight tick in ${tz} fires on ${day}, at the first instant after the gap`, () => {
        // cron-parser alone (BullMQ's default) goes to the next midnight: a whole day lost.
        expect(firings(defaultRepeatStrategy, '0 0 * * *', tz, from, 3).map((t) => localDay(t, tz))).not.toContain(day);
        const ticks = firings(repeatStrategy, '0 0 * * *', tz, from, 3);
        expect(ticks.map((t) => localDay(t, tz))).toContain(day);
        expect(new Set(ticks.map((t) => localDay(t, tz))).size).toBe(3); // one a day, none twice
        expect(nextRun('0 0 * * *', tz, new Date(from))?.getTime()).toBe(ticks[0]);
      });
    }

    it('a fixed hour fires once when the clock goes back half an hour (Lord Howe); every-hour ones fire in both', () => {
      const tz = 'Australia/Lord_Howe'; // 2027-04-04 02:00 +11 goes back to 01:30 +10:30
      for (const cron of ['30 1 * * *', '45 1 * * *', '0 30 1 * * *', '@daily']) {
        const ticks = firings(repeatStrategy, cron, tz, '2027-04-02T12:00:00Z', 4).map((t) => localDay(t, tz));
        expect(ticks, cron).toEqual(['2027-04-03', '2027-04-04', '2027-04-05', '2027-04-06']);
      }
      // `*/15` keeps the repeated half hour's ticks, as cron-parser does for a repeated hour.
      const quarter = firings(repeatStrategy, '*/15 * * * *', tz, '2027-04-03T14:00:00Z', 8);
      expect(quarter).toEqual(firings(defaultRepeatStrategy as never, '*/15 * * * *', tz, '2027-04-03T14:00:00Z', 8));
      expect(new Set(quarter.map((t) => localTime(t, tz))).size).toBeLessThan(8); // 01:30 and 01:45 twice
    });

    it('elsewhere it places ticks as cron-parser does: a skipped 02:30 at 03:30, a repeated hour twice', () => {
      const paris = 'Europe/Paris';
      const spring = firings(repeatStrategy, '30 2 * * *', paris, '2027-03-27T12:00:00Z', 2).map((t) => localTime(t, paris));
      expect(spring).toEqual(['2027-03-28 03:30:00', '2027-03-29 02:30:00']);
      // 25 hourly ticks on the night Paris goes back from 03:00 to 02:00, like the default.
      const night = (strategy: typeof repeatStrategy) => firings(strategy, '0 * * * *', paris, '2027-10-30T22:00:00Z', 25);
      expect(night(repeatStrategy)).toEqual(night(defaultRepeatStrategy as never));
      expect(new Set(night(repeatStrategy)).size).toBe(25);
      // A fixed hour inside the repeated one fires once that night, not twice (README).
      const autumn = firings(repeatStrategy, '30 2 * * *', paris, '2027-10-30T12:00:00Z', 2).map((t) => localTime(t, paris));
      expect(autumn).toEqual(['2027-10-31 02:30:00', '2027-11-01 02:30:00']);
      for (const [cron, tz] of [
        ['0 3 * * *', 'Europe/Paris'],
        ['*/15 * * * *', 'America/New_York'],
        ['0 9 * * 1-5', 'Asia/Tokyo'],
        ['0 0 1 * *', 'UTC'],
      ] as const) {
        const from = '2027-01-01T00:00:00Z';
        expect(firings(repeatStrategy, cron, tz, from, 50), `${cron} ${tz}`).toEqual(
          firings(defaultRepeatStrategy as never, cron, tz, from, 50),
        );
      }
    });
  });
});
