/** The overview: queue depth and throughput at a glance, then usage and cost per tenant over time. */
import { html } from 'hono/html';
import type { UsageQuery } from '../filters.ts';
import { type Bucket, type QueueDepth, THROUGHPUT_WINDOW_MIN, type Throughput, type UsagePoint } from '../stats.ts';
import { barChart, type Series } from './bar-chart.ts';
import { fmtMs, fmtUsd, type Html, layout } from './layout.ts';

export interface OverviewView {
  base: string;
  depths: QueueDepth[];
  throughput: Throughput[];
  usage: UsagePoint[];
  buckets: string[];
  bucket: Bucket;
  query: UsageQuery;
}

/** Tenants beyond this many (by cost, then tokens) are summed as "others", so the legend stays readable. */
const MAX_SERIES = 6;

/** One series per tenant (the biggest spenders first), values aligned on `buckets`. */
export function tenantSeries(usage: UsagePoint[], buckets: string[], value: (p: UsagePoint) => number): Series[] {
  const totals = new Map<string, { label: string; cost: number; tokens: number }>();
  for (const p of usage) {
    const t = totals.get(p.tenantId) ?? { label: p.tenantName ?? p.tenantId, cost: 0, tokens: 0 };
    t.cost += p.costUsd;
    t.tokens += p.tokens;
    totals.set(p.tenantId, t);
  }
  const order = [...totals.entries()].sort((a, b) => b[1].cost - a[1].cost || b[1].tokens - a[1].tokens).map(([id]) => id);
  const shown = order.slice(0, order.length > MAX_SERIES ? MAX_SERIES - 1 : MAX_SERIES);
  const index = new Map(buckets.map((b, i) => [b, i]));
  const series = new Map<string, Series>(shown.map((id) => [id, { label: totals.get(id)!.label, values: buckets.map(() => 0) }]));
  const others: Series = { label: 'others', values: buckets.map(() => 0) };
  for (const p of usage) {
    const i = index.get(p.bucket);
    if (i === undefined) continue;
    const s = series.get(p.tenantId) ?? others;
    s.values[i] = (s.values[i] ?? 0) + value(p);
  }
  return [...series.values(), ...(others.values.some((v) => v > 0) ? [others] : [])];
}

const compact = (v: number) =>
  v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v));

function queueTable(base: string, depths: QueueDepth[]): Html {
  return html`<table id="queue-depth"><thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">Delayed</th><th class="num">Active</th>
<th class="num">Failed (kept)</th><th class="num">Completed (kept)</th><th class="num">Paused</th></tr></thead><tbody>
${depths.map((d) =>
  d.counts
    ? html`<tr data-queue="${d.name}"><td><a href="${base}/queues/queue/${encodeURIComponent(d.name)}">${d.name}</a></td><td class="num">${d.counts.waiting}</td>
<td class="num">${d.counts.delayed}</td><td class="num" data-active="${d.counts.active}">${d.counts.active}</td><td class="num">${d.counts.failed}</td>
<td class="num">${d.counts.completed}</td><td class="num">${d.counts.paused}</td></tr>`
    : html`<tr data-queue="${d.name}"><td>${d.name}</td><td colspan="6" class="problem">Redis did not answer: ${d.error}</td></tr>`,
)}
</tbody></table>
<p><small>Redis keeps only live work and a bounded tail of finished jobs; PostgreSQL keeps the history.</small></p>`;
}

function throughputTable(rows: Throughput[]): Html {
  if (rows.length === 0) return html`<p id="throughput-none">No job finished in the last ${THROUGHPUT_WINDOW_MIN} minutes.</p>`;
  return html`<table id="throughput"><thead><tr><th>Type</th><th class="num">Completed 1 min</th><th class="num">5 min</th><th class="num">15 min</th>
<th class="num">Failed 15 min</th><th class="num">Canceled 15 min</th><th class="num">Mean run time</th></tr></thead><tbody>
${rows.map(
  (
    r,
  ) => html`<tr data-type="${r.type}"><td>${r.type}</td><td class="num">${r.completed1m}</td><td class="num">${r.completed5m}</td>
<td class="num" data-completed15m="${r.completed15m}">${r.completed15m}</td><td class="num">${r.failed15m}</td><td class="num">${r.canceled15m}</td>
<td class="num">${r.avgMs === null ? '' : fmtMs(Math.round(r.avgMs))}</td></tr>`,
)}
</tbody></table>`;
}

function usageTable(base: string, days: number, usage: UsagePoint[]): Html {
  const byTenant = new Map<string, { name: string; calls: number; tokens: number; cost: number }>();
  for (const p of usage) {
    const t = byTenant.get(p.tenantId) ?? { name: p.tenantName ?? '', calls: 0, tokens: 0, cost: 0 };
    t.calls += p.calls;
    t.tokens += p.tokens;
    t.cost += p.costUsd;
    byTenant.set(p.tenantId, t);
  }
  if (byTenant.size === 0) return html`<p id="usage-none">No model calls in this window.</p>`;
  const rows = [...byTenant.entries()].sort((a, b) => b[1].cost - a[1].cost);
  return html`<table id="usage-by-tenant"><thead><tr><th>Tenant</th><th class="num">Calls</th><th class="num">Tokens</th><th class="num">Cost</th></tr></thead><tbody>
${rows.map(
  ([
    id,
    t,
  ]) => html`<tr data-tenant="${id}"><td><a href="${base}/overview?days=${days}&tenant=${id}">${t.name}</a> <code>${id}</code></td><td class="num">${t.calls}</td>
<td class="num">${t.tokens}</td><td class="num" data-cost="${t.cost}">${fmtUsd(t.cost)}</td></tr>`,
)}
</tbody></table>`;
}

export function overviewPage(v: OverviewView): Html {
  const labels = v.buckets.map((b) => (v.bucket === 'hour' ? `${b.slice(5, 10)} ${b.slice(11, 13)}h` : b.slice(5, 10)));
  const cost = tenantSeries(v.usage, v.buckets, (p) => p.costUsd);
  const tokens = tenantSeries(v.usage, v.buckets, (p) => p.tokens);
  return layout(
    v.base,
    'Overview',
    html`<h1>Overview</h1>
<h2>Queue depth</h2>
${queueTable(v.base, v.depths)}
<h2>Throughput (last ${THROUGHPUT_WINDOW_MIN} minutes)</h2>
${throughputTable(v.throughput)}
<h2>Usage and cost per tenant</h2>
<form class="filters" method="get" action="${v.base}/overview">
  <label>Days<br><input type="number" name="days" min="1" max="90" value="${v.query.days}"></label>
  <label>Tenant (id or name)<br><input name="tenant" value="${v.query.tenant ?? ''}" size="30"></label>
  <button type="submit">Show</button>
</form>
${barChart({ id: 'cost-chart', title: `Cost (USD) per ${v.bucket}, UTC`, buckets: labels, series: cost, format: (x) => fmtUsd(x) })}
${barChart({ id: 'tokens-chart', title: `Tokens (in + out) per ${v.bucket}, UTC`, buckets: labels, series: tokens, format: compact })}
${usageTable(v.base, v.query.days, v.usage)}`,
  );
}
