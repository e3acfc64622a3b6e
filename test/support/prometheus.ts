/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), enough to check
 * that /metrics is well-formed: every line is a comment, a HELP/TYPE line or a sample, every
 * sample belongs to a declared family, and every value is a number.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
// Suffixes a histogram or summary family adds to its samples.
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    const known = families.get(name);
    if (known) return known;
    const f: Family = { name, samples: [] };
    families.set(name, f);
    return f;
  };
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition must end with a newline');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = line.match(/^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) throw new Error(`bad metric name in ${where}`);
      const f = family(name!);
      if (kind === 'HELP') f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else {
        if (!TYPES.has(rest.trim())) throw new Error(`bad TYPE in ${where}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples in ${where}`);
        f.type = rest.trim() as Family['type'];
      }
      return;
    }
    const sample = parseSample(line, where);
    const owner =
      families.get(sample.name) ?? [...families.values()].find((f) => SUFFIXES.some((s) => sample.name === f.name + s));
    if (!owner) throw new Error(`sample of an undeclared family in ${where}`);
    owner.samples.push(sample);
  });
  return families;
}

function parseSample(line: string, where: string): Sample {
  const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?$/);
  if (!m) throw new Error(`not a sample: ${where}`);
  const [, name, rawLabels, rawValue] = m;
  const value = parseValue(rawValue!);
  if (value === undefined) throw new Error(`bad value in ${where}`);
  return { name: name!, labels: rawLabels ? parseLabels(rawLabels.slice(1, -1), where) : {}, value };
}

// Prometheus reads values with Go's strconv.ParseFloat: NaN and Inf in any case. prom-client
// writes `Nan` (an event-loop-lag gauge scraped again before a new sample).
function parseValue(raw: string): number | undefined {
  if (/^\+?inf$/i.test(raw)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(raw)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(raw)) return Number.NaN;
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(raw)) return undefined;
  return Number(raw);
}

/** `a="x",b="y\"z"` with the format's escapes (\\, \", \n); a trailing comma is allowed. */
function parseLabels(s: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in ${where}`);
    const key = s.slice(i, eq).trim();
    if (!LABEL.test(key)) throw new Error(`bad label name "${key}" in ${where}`);
    if (s[eq + 1] !== '"') throw new Error(`unquoted label value in ${where}`);
    let j = eq + 2;
    let value = '';
    for (; ; j++) {
      if (j >= s.length) throw new Error(`unterminated label value in ${where}`);
      const ch = s[j]!;
      if (ch === '"') break;
      if (ch === '\\') {
        const next = s[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`bad escape in ${where}`);
      } else value += ch;
    }
    if (key in labels) throw new Error(`duplicate label "${key}" in ${where}`);
    labels[key] = value;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (i < s.length) throw new Error(`expected "," between labels in ${where}`);
  }
  return labels;
}
