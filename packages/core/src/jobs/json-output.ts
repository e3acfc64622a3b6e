/**
 * Structured output: user-supplied JSON Schemas compiled with ajv (cached by content), and
 * model answers parsed and checked against them.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { RE2JS } from 're2js';
import { hashJson } from '../ids.ts';

/**
 * `pattern` and `patternProperties` come from tenants, and V8's backtracking engine takes
 * exponential time on some of them (`^(a+)+$` against "aaa…a!": 40 characters block the
 * worker's event loop, every tenant's jobs with it). RE2 (re2js, plain JavaScript) runs in
 * time linear in the input; it has no lookaround and no backreferences, so a schema using them
 * is refused at submit like any other invalid schema. Ajv keys compiled patterns by toString.
 */
const linearRegExp = Object.assign((pattern: string) => RE2JS.compile(toRe2Syntax(pattern)), { code: 're2js' });

/** JSON Schema patterns are ECMAScript regexes: their `\uXXXX` and `\u{X…}` escapes are RE2's `\x{…}`. */
function toRe2Syntax(pattern: string): string {
  return pattern.replace(/\\(\\|u\{([0-9a-fA-F]+)\}|u([0-9a-fA-F]{4}))/g, (whole, _: string, braced?: string, four?: string) =>
    braced || four ? `\\x{${braced ?? four}}` : whole,
  );
}

// One instance shared by every tenant, left after each compile as it was before: ajv caches by
// object identity, and every job brings a fresh object, so keeping them would grow without
// bound (a refused schema stayed too: 50 refused 1 MB schemas took 90 MB). And the `$id`s a
// schema names, nested ones included, would stay registered: a later schema of any tenant
// naming one again was refused as a duplicate. Validators are kept here instead, by content.
const ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: linearRegExp } });
const validators = new LRUCache<string, ValidateFunction>({ max: 500 });

/** A compiled validator, or throws with ajv's message when the schema is not valid JSON Schema. */
export function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = hashJson(schema);
  let v = validators.get(key);
  if (!v) {
    // Draft-07 is what ajv checks by default; a `$schema` naming another draft would stop the compile.
    const { $schema: _, ...body } = schema;
    const refs = new Set(Object.keys(ajv.refs));
    try {
      v = ajv.compile(body);
    } finally {
      ajv.removeSchema(body);
      for (const ref of Object.keys(ajv.refs)) if (!refs.has(ref)) delete ajv.refs[ref];
    }
    validators.set(key, v);
  }
  return v;
}

export type Checked = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** Parses a model's answer (tolerating a ```json fence around it) and validates it. */
export function checkJson(content: string, validate: ValidateFunction): Checked {
  const text = content
    .trim()
    .replace(/^```(?:json)?\s*\n?([\s\S]*?)\n?```$/, '$1')
    .trim();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`not valid JSON: ${(err as Error).message}`] };
  }
  if (validate(value)) return { ok: true, value };
  return { ok: false, errors: (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`) };
}
