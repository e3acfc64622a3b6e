import { describe, expect, it } from 'vitest';
import { listQueryString, parseListQuery, parseTime, parseUsageQuery, toLocalInput } from './filters.ts';

const q = (params: Record<string, string>) => (k: string) => params[k];

describe('explorer filters', () => {
  it('reads a datetime-local value as UTC and keeps ISO times with a zone', () => {
    expect(parseTime('from', '2026-11-23T13:05').toISOString()).toBe('2026-11-23T13:05:00.000Z');
    expect(parseTime('from', '2026-11-23').toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(parseTime('to', '2026-11-23T14:05:00+01:00').toISOString()).toBe('2026-11-23T13:05:00.000Z');
    expect(toLocalInput(new Date('2026-11-23T13:05:42Z'))).toBe('2026-11-23T13:05');
  });

  it('parses every filter and round-trips them into the next page link', () => {
    const f = parseListQuery(
      q({ status: 'failed', type: 'chat', tenant: ' acme ', from: '2026-11-23T10:00', to: '2026-11-23T11:00', limit: '10' }),
    );
    expect(f).toMatchObject({ status: 'failed', type: 'chat', tenant: 'acme', limit: 10 });
    const again = parseListQuery((k) => new URLSearchParams(listQueryString(f).slice(1)).get(k) ?? undefined);
    expect(again).toEqual(f);
    expect(parseListQuery(q({})).limit).toBe(50);
    expect(listQueryString(parseListQuery(q({})))).toBe('');
  });

  it.each([
    [{ status: 'done' }, /status must be one of/],
    [{ from: 'yesterday' }, /from must be a time/],
    [{ from: '2026-11-23T11:00', to: '2026-11-23T10:00' }, /from must be before to/],
    [{ cursor: "1' OR 1=1" }, /cursor must be a job id/],
    [{ limit: '0' }, /limit must be/],
    [{ limit: '9999' }, /limit must be/],
    // Values PostgreSQL refuses (out-of-range years, NUL) and dates Date rolls over.
    [{ from: '10000' }, /from must be a time/],
    [{ from: '275760-09-13' }, /from must be a time/],
    [{ from: '-271821-04-20T00:00:00Z' }, /from must be a time/],
    [{ to: '9999-01-01' }, /to must be a time/],
    [{ from: '1969-12-31' }, /from must be a time/],
    [{ from: '2026-02-30T00:00' }, /from must be a time/],
    [{ type: 'a\u0000b' }, /type: text must not contain NUL/],
    [{ tenant: '\u0000' }, /tenant: text must not contain NUL/],
    [{ tenant: 'acme\uD800' }, /tenant: text must not contain NUL characters or unpaired surrogates/],
  ])('refuses %o with a 400 invalid_filter', (params, message) => {
    expect(() => parseListQuery(q(params as Record<string, string>))).toThrow(
      expect.objectContaining({ code: 'invalid_filter', status: 400, message: expect.stringMatching(message) }),
    );
  });

  it('bounds the usage window to 1..90 days', () => {
    expect(parseUsageQuery(q({}))).toEqual({ days: 14, tenant: undefined });
    expect(parseUsageQuery(q({ days: '2', tenant: 'acme' }))).toEqual({ days: 2, tenant: 'acme' });
    for (const days of ['0', '91', '1.5', 'x']) {
      expect(() => parseUsageQuery(q({ days }))).toThrow(expect.objectContaining({ code: 'invalid_filter', status: 400 }));
    }
    expect(() => parseUsageQuery(q({ tenant: '\u0000' }))).toThrow(
      expect.objectContaining({ code: 'invalid_filter', status: 400, message: expect.stringMatching(/tenant: text must not/) }),
    );
  });
});
