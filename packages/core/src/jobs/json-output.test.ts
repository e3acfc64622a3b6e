/**
 * `responseSchema` patterns run on RE2 (linear time) but are written as ECMAScript regexes:
 * the common forms mean the same under both, and what RE2 cannot run is refused.
 */
import { describe, expect, it } from 'vitest';
import { checkJson, validatorFor } from './json-output.ts';

const matches = (pattern: string, value: string) =>
  checkJson(JSON.stringify(value), validatorFor({ type: 'string', pattern })).ok;

describe('responseSchema patterns', () => {
  it('mean what they mean in ECMAScript, \\u escapes included', () => {
    const cases: [string, string][] = [
      ['^[A-Z]{2}$', 'FR'],
      ['^\\d{4}-\\d{2}-\\d{2}$', '2026-11-24'],
      ['^\\u00e9t\\u00E9$', 'été'],
      ['^\\u{1F600}$', '😀'],
      ['^\\p{Lu}', 'Élan'],
      ['^(?<year>\\d{4})$', '2026'],
      ['^[\\w.-]+@[\\w.-]+$', 'a.b@c-d.e'],
      ['^.{2}$', '😀😀'],
      ['^a\\\\u0041$', 'a\\u0041'], // an escaped backslash, then the letters u0041
    ];
    for (const [pattern, value] of cases) {
      expect(matches(pattern, value), pattern).toBe(true);
      for (const other of [`${value}!`, `!${value}`, value.slice(1)]) {
        expect(matches(pattern, other), `${pattern} on ${other}`).toBe(new RegExp(pattern, 'u').test(other));
      }
    }
  });

  it('run in linear time, and what RE2 cannot run (lookaround, backreferences) is refused', () => {
    // A backtracking engine would not return from this (about 2^10000 steps).
    expect(matches('^(a+)+$', `${'a'.repeat(10_000)}!`)).toBe(false);
    expect(() => validatorFor({ type: 'string', pattern: '^(?=a)' })).toThrow(/unsupported Perl syntax/);
    expect(() => validatorFor({ type: 'string', pattern: '^(a)\\1$' })).toThrow(/escape/);
  });
});

describe('responseSchema ids', () => {
  it('a schema’s $id, top-level or nested, refused or compiled, does not stay registered for the next one', () => {
    const id = 'https://example.com/order.json';
    expect(() => validatorFor({ $id: id, type: 5 })).toThrow();
    expect(checkJson('{}', validatorFor({ $id: id, type: 'object' })).ok).toBe(true);

    const nested = 'https://example.com/item.json';
    const withNested = validatorFor({
      type: 'object',
      properties: { item: { $id: nested, type: 'string' }, again: { $ref: nested } },
    });
    expect(checkJson('{"item":"a","again":"b"}', withNested).ok).toBe(true);
    expect(checkJson('{"item":"a","again":1}', withNested).ok).toBe(false);
    // Another schema naming that id, with other content, compiles and means its own content.
    expect(checkJson('3', validatorFor({ $id: nested, type: 'number' })).ok).toBe(true);
    expect(checkJson('{"item":"a","again":2}', withNested).ok).toBe(false);
  });
});
