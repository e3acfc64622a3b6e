/**
 * deploy/grafana/spool.json against the metric catalog (packages/core/src/metrics.ts): every
 * metric name in every panel expression and template query is one the registry declares
 * (histograms with their _bucket/_sum/_count series), and every label a query matches or
 * groups by is one of those metrics' labels. A renamed metric or label fails here, not
 * silently as an empty panel in production.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registry } from '@spool/core/metrics';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/env.ts';

// PromQL functions, aggregations and keywords the dashboard may use.
const PROMQL = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'topk',
  'bottomk',
  'quantile',
  'stddev',
  'group',
  'rate',
  'irate',
  'increase',
  'delta',
  'deriv',
  'histogram_quantile',
  'clamp_min',
  'clamp_max',
  'scalar',
  'vector',
  'abs',
  'ceil',
  'floor',
  'round',
  'time',
  'absent',
  'label_values',
  'avg_over_time',
  'max_over_time',
  'min_over_time',
  'sum_over_time',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
]);

interface Catalog {
  /** Series name → the labels of its metric (histogram series add `le` on _bucket). */
  series: Map<string, Set<string>>;
}

async function catalog(): Promise<Catalog> {
  const series = new Map<string, Set<string>>();
  for (const m of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: readonly string[] };
    const labels = new Set(metric.labelNames ?? []);
    if (String(m.type) === 'histogram') {
      series.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${m.name}_sum`, labels);
      series.set(`${m.name}_count`, labels);
    } else series.set(m.name, labels);
  }
  return { series };
}

/** The metric names and label names a PromQL expression (or a template query) refers to. */
function references(expr: string): { metrics: string[]; labels: string[] } {
  const labels = new Set<string>();
  let rest = expr.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const m of inner.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)) labels.add(m[1]!);
    return ' ';
  });
  rest = rest.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, inner: string) => {
    for (const l of inner
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      labels.add(l);
    return ' ';
  });
  // label_values(metric, label): the second argument is a label.
  rest = rest.replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)/g, (_, metric: string, label: string) => {
    labels.add(label);
    return ` ${metric} `;
  });
  rest = rest
    .replace(/\[[^\]]*\]/g, ' ') // range selectors: [5m], [$__rate_interval]
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\$\w+/g, ' ') // Grafana variables
    .replace(/(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi, ' '); // numbers, 1e-9 included
  const metrics = [...rest.matchAll(/[a-zA-Z_:][\w:]*/g)].map((m) => m[0]).filter((w) => !PROMQL.has(w));
  return { metrics: [...new Set(metrics)], labels: [...labels] };
}

/** What is wrong with one expression against the catalog (empty: nothing). */
function problems(expr: string, cat: Catalog): string[] {
  const { metrics, labels } = references(expr);
  const out: string[] = [];
  if (metrics.length === 0) out.push(`no metric in ${expr}`);
  const known = new Set<string>();
  for (const m of metrics) {
    const l = cat.series.get(m);
    if (!l) out.push(`unknown metric ${m}`);
    else for (const x of l) known.add(x);
  }
  for (const l of labels) if (!known.has(l)) out.push(`label ${l} is on none of ${metrics.join(', ')}`);
  return out;
}

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

// Grafana's import placeholder, a literal string (not a template).
const DS_UID = '$' + '{DS_PROMETHEUS}';

describe('Grafana dashboard (deploy/grafana/spool.json)', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/spool.json'), 'utf8'));
  const panels: Panel[] = dashboard.panels.filter((p: Panel) => p.type !== 'row');
  let cat: Catalog;
  beforeAll(async () => {
    cat = await catalog();
  });

  it('every expression and template query names metrics and labels of the catalog', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr })));
    for (const v of dashboard.templating.list) exprs.push({ where: `variable ${v.name}`, expr: v.query.query });
    expect(exprs.length).toBeGreaterThan(25);
    const found = exprs.flatMap(({ where, expr }) => problems(expr, cat).map((p) => `${where}: ${p}`));
    expect(found).toEqual([]);
  });

  it('the check catches a drifted metric or label name', () => {
    expect(problems('sum(rate(spool_jobs_submited_total[5m]))', cat)).toEqual(['unknown metric spool_jobs_submited_total']);
    expect(problems('sum by (route) (rate(spool_jobs_submitted_total[5m]))', cat)).toEqual([
      'label route is on none of spool_jobs_submitted_total',
    ]);
    expect(problems('histogram_quantile(0.99, sum by (le) (rate(spool_job_duration_seconds[5m])))', cat)).toEqual([
      'unknown metric spool_job_duration_seconds',
      'label le is on none of spool_job_duration_seconds',
    ]);
    expect(
      problems(
        'histogram_quantile(0.99, sum by (le, type) (rate(spool_job_duration_seconds_bucket{type=~"$type"}[$__rate_interval])))',
        cat,
      ),
    ).toEqual([]);
  });

  it('takes its Prometheus datasource as an import input, on every panel and query', () => {
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    ]);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: DS_UID });
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(DS_UID);
    }
  });

  it('has the operators’ panels', () => {
    const titles = panels.map((p) => p.title);
    for (const t of [
      'Submit rate by type',
      'Completion and failure rate',
      'Job duration p50 / p95 / p99',
      'Queue wait p95',
      'Queue depth by state',
      'HTTP p99 by route',
      'HTTP 5xx rate',
      'SSE subscribers',
      'Model calls by model and outcome',
      'Model tokens by model',
      'Model cost by model (USD per hour)',
      'Cache hit ratio',
      'Circuit breaker state',
      'Webhook deliveries by outcome',
      'Reconciler repairs',
      'Workers and running jobs',
    ])
      expect(titles).toContain(t);
    // Unique ids, no overlapping grid cells.
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels as { gridPos: { x: number; y: number; w: number; h: number } }[]) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });
});
