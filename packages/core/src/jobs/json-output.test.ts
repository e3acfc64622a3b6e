/**
 * `responseSchema` patterns run on RE2 (linear time) but are written as ECMAScript regexes:
 * the common forms mean the same under both, and what RE2 cannot run is refused.
 */
import { describe, expect, it } from 'vitest';
import { checkJson, SCHEMA_LIMITS, SchemaLimitError, validatorFor } from './json-output.ts';

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

describe('responseSchema size', () => {
  it('a definition named by many $refs is compiled once, not copied into each', () => {
    const props = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }]));
    const refs = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`r${i}`, { $ref: '#/definitions/d' }]));
    const schema = { definitions: { d: { type: 'object', properties: props } }, type: 'object', properties: refs };
    const validate = validatorFor(schema);
    // Inlined, this was 13 MB of generated code (5 s of compiling); the size, not the time, is checked.
    expect(validate.toString().length).toBeLessThan(500_000);
    expect(checkJson(JSON.stringify({ r0: { p1: 'x' }, r399: {} }), validate).ok).toBe(true);
    expect(checkJson(JSON.stringify({ r7: { p1: '' } }), validate).ok).toBe(false);
  });

  it('is bounded in objects, patterns and depth, each refused with its own message', () => {
    const objects = (n: number) => ({
      type: 'object',
      properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, { type: 'string' }])),
    });
    // The root, its `properties` map and n property schemas.
    expect(() => validatorFor(objects(SCHEMA_LIMITS.objects - 2))).not.toThrow();
    expect(() => validatorFor(objects(SCHEMA_LIMITS.objects - 1))).toThrow(SchemaLimitError);
    expect(() => validatorFor(objects(SCHEMA_LIMITS.objects - 1))).toThrow(/at most 500 objects/);

    const patterns = (n: number) => ({
      type: 'object',
      patternProperties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`^a${i}$`, { type: 'string' }])),
    });
    expect(() => validatorFor(patterns(SCHEMA_LIMITS.patterns))).not.toThrow();
    expect(() => validatorFor(patterns(SCHEMA_LIMITS.patterns + 1))).toThrow(/at most 100 patterns/);

    const nested = (levels: number) => {
      let s: Record<string, unknown> = { type: 'string' };
      for (let i = 0; i < levels; i++) s = { type: 'array', items: s };
      return s;
    };
    expect(() => validatorFor(nested(SCHEMA_LIMITS.depth))).not.toThrow();
    expect(() => validatorFor(nested(SCHEMA_LIMITS.depth + 1))).toThrow(/nested at most 32 levels/);
  });
});
