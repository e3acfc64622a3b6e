import { describe, expect, it } from 'vitest';
import type { UsagePoint } from '../stats.ts';
import { barChart, niceMax } from './bar-chart.ts';
import { tenantSeries } from './overview.ts';
import { timelineBars, timelineSpan } from './timeline.ts';

describe('explorer views', () => {
  it('rounds the y axis up to 1, 2 or 5 × 10^n', () => {
    expect([0, 0.003, 0.7, 1, 3, 42, 999].map(niceMax)).toEqual([1, 0.005, 1, 1, 5, 50, 1000]);
  });

  it('stacks one rect per non-zero value, heights proportional to the value', async () => {
    const svg = String(
      await barChart({
        id: 'c',
        title: 'Cost',
        buckets: ['d1', 'd2'],
        series: [
          { label: 'a<b', values: [1, 0] },
          { label: 'c', values: [3, 2] },
        ],
        format: String,
        height: 248, // plot height 200 with the default padding (12 top, 36 bottom)
      }),
    );
    const rects = [
      ...svg.matchAll(/<rect class="bar" data-series="([^"]+)" data-bucket="(\w+)" data-value="([\d.]+)"[^>]*height="([\d.]+)"/g),
    ];
    expect(rects.map((m) => [m[1], m[2], Number(m[3]), Number(m[4])])).toEqual([
      ['a&lt;b', 'd1', 1, 40], // axis max 5: 1/5 of 200 px, label escaped
      ['c', 'd1', 3, 120],
      ['c', 'd2', 2, 80],
    ]);
  });

  it('places steps on the span of the job; a running step ends now', () => {
    const t = Date.parse('2026-11-23T10:00:00Z');
    const iso = (ms: number) => new Date(t + ms).toISOString();
    const steps = [
      { name: 'a', status: 'completed' as const, runs: 1, startedAt: iso(0), finishedAt: iso(1_000) },
      { name: 'b', status: 'running' as const, runs: 2, startedAt: iso(1_000), finishedAt: null },
    ];
    const span = timelineSpan(steps, iso(0), null, t + 4_000);
    expect(span).toEqual({ t0: t, t1: t + 4_000 });
    expect(timelineBars(steps, span.t0, span.t1, t + 4_000)).toEqual([
      { name: 'a', status: 'completed', runs: 1, left: 0, width: 25, ms: 1_000 },
      { name: 'b', status: 'running', runs: 2, left: 25, width: 75, ms: 3_000 },
    ]);
  });

  it('makes one series per tenant, biggest spender first, the tail summed as others', () => {
    const p = (tenantId: string, bucket: string, costUsd: number): UsagePoint => ({
      bucket,
      tenantId,
      tenantName: tenantId.toUpperCase(),
      calls: 1,
      tokens: 10,
      costUsd,
    });
    const usage = [
      p('a', 'd1', 1),
      p('b', 'd1', 5),
      p('b', 'd2', 1),
      ...['c', 'd', 'e', 'f', 'g'].map((t, i) => p(t, 'd2', 0.1 * (i + 1))),
    ];
    const series = tenantSeries(usage, ['d1', 'd2'], (x) => x.costUsd);
    expect(series.map((s) => s.label)).toEqual(['B', 'A', 'G', 'F', 'E', 'others']);
    expect(series[0]!.values).toEqual([5, 1]);
    expect(series.at(-1)!.values[1]).toBeCloseTo(0.3); // c + d
  });
});
