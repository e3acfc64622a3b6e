/** The explorer's page frame and the small formatting helpers every view shares. */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/** What a view returns: hono/html escapes every interpolated value. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#cbd5e1;text-decoration:none}
main{padding:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f3f4f6;padding:8px;overflow:auto;max-height:320px}
.status{font-weight:600}.completed,.succeeded,.ok{color:#15803d}.failed,.error{color:#b91c1c}.running{color:#1d4ed8}
.queued,.pending{color:#6b7280}.canceled{color:#a16207}
form.filters{display:flex;gap:8px;margin-bottom:12px;align-items:end;flex-wrap:wrap}
form.inline{display:inline;margin-right:8px}
.notice{background:#ecfdf5;border:1px solid #a7f3d0;padding:6px 10px;margin-bottom:12px}
.problem{background:#fef2f2;border:1px solid #fecaca;padding:6px 10px;margin-bottom:12px}
progress{width:320px}
.timeline{position:relative;border:1px solid #e5e7eb;background:#fafafa}
.timeline .lane{position:relative;height:22px;border-bottom:1px solid #f0f0f0}
.timeline .bar{position:absolute;top:3px;height:16px;border-radius:3px;font-size:11px;line-height:16px;
  color:#fff;white-space:nowrap;overflow:visible;padding-left:4px;min-width:2px;box-sizing:border-box}
.bar.completed{background:#16a34a}.bar.failed{background:#dc2626}.bar.running{background:#2563eb}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
`;

/** The page frame: header navigation (every link under `base`) and the content. */
export function layout(base: string, title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Spool</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${raw(STYLE)}</style></head>
<body><header><strong>Spool</strong><a href="${base || '/'}">Jobs</a><a href="${base}/overview">Overview</a><a href="${base}/queues">Queues (Bull Board)</a></header>
<main>${body}</main></body></html>`;
}

/** A timestamp as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), or '' when absent. */
export const when = (t: string | Date | null | undefined) =>
  t ? new Date(t).toISOString().replace('T', ' ').replace('Z', '') : '';

/** Milliseconds between two timestamps, or undefined when either is missing. */
export function durationMs(start: string | Date | null | undefined, end: string | Date | null | undefined): number | undefined {
  if (!start || !end) return undefined;
  return new Date(end).getTime() - new Date(start).getTime();
}

export const fmtMs = (ms: number | undefined) => (ms === undefined ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`);

/** USD for people: cents above $1, three significant digits below (model calls cost fractions of a cent). */
export const fmtUsd = (usd: number) =>
  usd === 0 ? '$0' : `$${usd >= 1 ? usd.toFixed(2) : Number(usd.toPrecision(3)).toString()}`;

export const json = (v: unknown) => JSON.stringify(v, null, 2) ?? 'null';

/**
 * JSON for a `<script>` element: `<` escaped so a value holding `</script>` cannot end it.
 * The only raw interpolation of data in the explorer.
 */
export const scriptJson = (v: unknown) => raw(JSON.stringify(v).replace(/</g, '\\u003c'));
