/**
 * What JSON a job may carry. JSON.parse accepts values that Spool cannot keep: PostgreSQL's
 * text and jsonb refuse NUL characters and unpaired UTF-16 surrogates, and nesting thousands
 * deep overflows the stack of the request hash, of JSON.stringify and of PostgreSQL's jsonb
 * parser. Refused up front, they are a 422 naming the path instead of a 500.
 */

/** Deeper than any real job input; far below what overflows a stack (thousands of levels). */
export const MAX_JSON_DEPTH = 64;

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Whether PostgreSQL would refuse (NUL) or silently change (an unpaired surrogate, to U+FFFD) this text. */
export const unstorableText = (s: string) => s.includes('\u0000') || LONE_SURROGATE.test(s);
export const UNSTORABLE_TEXT = 'text must not contain NUL characters or unpaired surrogates';

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
/**
 * Text that is only shown (a progress message, a token delta, an error message) with what
 * PostgreSQL cannot keep replaced by U+FFFD. Unchecked, one NUL failed the batch write of
 * every job's events in the worker, again and again.
 */
export const cleanText = (s: string): string =>
  unstorableText(s) ? s.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD') : s;

/**
 * The first `max` UTF-16 units of `s`, one fewer when the cut would split a surrogate pair: a
 * lone high surrogate is JSON that PostgreSQL's jsonb refuses, and a job whose snippet ended in
 * half an emoji failed at its closing write.
 */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

export interface JsonIssue {
  path: (string | number)[];
  message: string;
}

/** The first problem in `value` (strings and object keys at any depth), or undefined. Iterative. */
export function unstorableJson(value: unknown): JsonIssue | undefined {
  // Each entry links to its parent, so a path is only built for the one problem reported.
  type Entry = { value: unknown; key: string | number | undefined; parent: Entry | undefined; depth: number };
  const pathOf = (e: Entry | undefined): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let at = e; at?.key !== undefined; at = at.parent) path.unshift(at.key);
    return path;
  };
  const stack: Entry[] = [{ value, key: undefined, parent: undefined, depth: 0 }];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const v = e.value;
    if (typeof v === 'string') {
      if (unstorableText(v)) return { path: pathOf(e), message: UNSTORABLE_TEXT };
      continue;
    }
    // JSON.parse reads 1e400 as Infinity, which JSON.stringify writes as null: a value lost.
    if (typeof v === 'number' && !Number.isFinite(v))
      return { path: pathOf(e), message: 'numbers must be finite (this one is past the range of a double)' };
    if (v === null || typeof v !== 'object') continue;
    if (e.depth >= MAX_JSON_DEPTH)
      return { path: pathOf(e), message: `JSON must not be nested more than ${MAX_JSON_DEPTH} levels deep` };
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((item, i) => [i, item]) : Object.entries(v);
    for (const [key, item] of entries) {
      if (typeof key === 'string' && unstorableText(key)) {
        return { path: pathOf(e), message: 'keys must not contain NUL characters or unpaired surrogates' };
      }
      stack.push({ value: item, key, parent: e, depth: e.depth + 1 });
    }
  }
  return undefined;
}
