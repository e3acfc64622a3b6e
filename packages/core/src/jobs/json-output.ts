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
// `inlineRefs: false`: a definition is compiled once, however often it is named. Inlined, 400
// `$ref`s to one 50-property definition (15 KB of schema) made 13 MB of code and took 5 s.
const ajv = new Ajv({ allErrors: true, strict: false, inlineRefs: false, code: { regExp: linearRegExp } });
// A validator of a schema at the limits below is up to ~150 KB of generated code.
const validators = new LRUCache<string, ValidateFunction>({ max: 200 });

/**
 * How much schema a job may bring. ajv compiles a schema into JavaScript on the event loop
 * (the API's at submit, then the worker's), in time that grows with its subschemas (about
 * 0.3 ms each here) and patterns (RE2 compiles each): unbounded, one 1 MB schema held the API
 * for 6 s. At these limits a compile takes at most ~150 ms, once per distinct schema.
 * OpenAI's structured outputs allow less nesting (10 levels).
 */
export const SCHEMA_LIMITS = { objects: 500, patterns: 100, depth: 32 } as const;

/** Refused before ajv sees the schema; its message is the whole explanation. */
export class SchemaLimitError extends Error {}

function checkLimits(schema: unknown): void {
  let objects = 0;
  let patterns = 0;
  const stack: { value: unknown; depth: number }[] = [{ value: schema, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > SCHEMA_LIMITS.depth)
      throw new SchemaLimitError(`a responseSchema may be nested at most ${SCHEMA_LIMITS.depth} levels deep`);
    if (!Array.isArray(value)) {
      if (++objects > SCHEMA_LIMITS.objects)
        throw new SchemaLimitError(`a responseSchema may hold at most ${SCHEMA_LIMITS.objects} objects (subschemas)`);
      const v = value as Record<string, unknown>;
      if (typeof v.pattern === 'string') patterns++;
      if (v.patternProperties && typeof v.patternProperties === 'object') patterns += Object.keys(v.patternProperties).length;
      if (patterns > SCHEMA_LIMITS.patterns)
        throw new SchemaLimitError(`a responseSchema may hold at most ${SCHEMA_LIMITS.patterns} patterns`);
    }
    for (const item of Object.values(value)) stack.push({ value: item, depth: depth + 1 });
  }
}

/**
 * A compiled validator. Throws SchemaLimitError for a schema past SCHEMA_LIMITS, and ajv's
 * error when the schema is not valid JSON Schema.
 */
export function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = hashJson(schema);
  let v = validators.get(key);
  if (!v) {
    checkLimits(schema);
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
