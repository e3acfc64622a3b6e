/**
 * A stacked bar chart as inline SVG, rendered on the server: one bar per bucket, one colour
 * per series. Hand-written rather than a chart library: a few rects and labels, no script,
 * and it shows in a screenshot and without JavaScript.
 */
import { html } from 'hono/html';
import type { Html } from './layout.ts';

export interface Series {
  label: string;
  values: number[];
}

export interface BarChart {
  id: string;
  title: string;
  /** Bucket labels, one per bar. */
  buckets: string[];
  series: Series[];
  format: (v: number) => string;
  width?: number;
  height?: number;
}

/** Colour-blind-safe (Okabe–Ito), in series order; series beyond it reuse from the start. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const PAD = { left: 72, right: 12, top: 12, bottom: 36 };

/** The top of the y axis: the largest stack rounded up to 1, 2 or 5 × 10^n. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = [1, 2, 5, 10].find((k) => k * p >= v) ?? 10;
  return m * p;
}

export function barChart(c: BarChart): Html {
  const width = c.width ?? 900;
  const height = c.height ?? 240;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const totals = c.buckets.map((_, i) => c.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotW / Math.max(1, c.buckets.length);
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  // At most ~8 x labels, so they never overlap.
  const every = Math.max(1, Math.ceil(c.buckets.length / 8));
  const rects = c.buckets.flatMap((bucket, i) => {
    let base = 0;
    return c.series.flatMap((s, k) => {
      const v = s.values[i] ?? 0;
      if (v <= 0) return [];
      const top = y(base + v);
      const h = y(base) - top;
      base += v;
      return [
        html`<rect class="bar" data-series="${s.label}" data-bucket="${bucket}" data-value="${v}" x="${(PAD.left + i * slot + (slot - barW) / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, h).toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${bucket} · ${s.label}: ${c.format(v)}</title></rect>`,
      ];
    });
  });
  const ticks = [0, 0.5, 1].map(
    (f) =>
      html`<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="#e5e7eb"/><text x="${PAD.left - 6}" y="${y(max * f) + 4}" text-anchor="end" font-size="11">${c.format(max * f)}</text>`,
  );
  const labels = c.buckets.map((b, i) =>
    i % every === 0
      ? html`<text x="${PAD.left + i * slot + slot / 2}" y="${height - PAD.bottom + 16}" text-anchor="middle" font-size="11">${b}</text>`
      : '',
  );
  return html`<figure id="${c.id}"><figcaption><strong>${c.title}</strong></figcaption>
<svg role="img" aria-label="${c.title}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif">
${ticks}${rects}${labels}
</svg>
<div class="legend">${c.series.map((s, k) => html`<span><i style="background:${PALETTE[k % PALETTE.length]}"></i>${s.label}</span>`)}</div>
</figure>`;
}
