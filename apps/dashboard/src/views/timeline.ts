/**
 * A job's steps as a bar timeline: one lane per step, each bar placed by its (latest run's)
 * start and end on the span of the job. The live script (job-live.ts) redraws the same markup
 * as step events arrive.
 */
import { html } from 'hono/html';
import type { StepRow } from '../queries.ts';
import { fmtMs, type Html } from './layout.ts';

export interface Bar {
  name: string;
  status: string;
  runs: number;
  /** Percent of the span. */
  left: number;
  width: number;
  ms: number;
}

/** Places each step on `[t0, t1]`; a running step ends at `now`. */
export function timelineBars(steps: StepRow[], t0: number, t1: number, now: number): Bar[] {
  const span = Math.max(1, t1 - t0);
  return steps.map((s) => {
    const start = new Date(s.startedAt).getTime();
    const end = s.finishedAt ? new Date(s.finishedAt).getTime() : now;
    const left = Math.min(100, Math.max(0, ((start - t0) / span) * 100));
    return {
      name: s.name,
      status: s.status,
      runs: s.runs,
      left,
      width: Math.min(100 - left, Math.max(0, ((end - start) / span) * 100)),
      ms: Math.max(0, end - start),
    };
  });
}

/** The span the bars are drawn on: the job's start (or first step) to its end (or now). */
export function timelineSpan(
  steps: StepRow[],
  startedAt: string | Date | null,
  finishedAt: string | Date | null,
  now: number,
): { t0: number; t1: number } {
  const starts = steps.map((s) => new Date(s.startedAt).getTime());
  const ends = steps.map((s) => (s.finishedAt ? new Date(s.finishedAt).getTime() : now));
  const t0 = Math.min(startedAt ? new Date(startedAt).getTime() : Number.POSITIVE_INFINITY, ...starts);
  const t1 = finishedAt ? Math.max(new Date(finishedAt).getTime(), ...ends) : Math.max(now, ...ends);
  return { t0: Number.isFinite(t0) ? t0 : now, t1 };
}

export function timeline(bars: Bar[], spanMs: number): Html {
  return html`<div id="timeline" class="timeline" data-span-ms="${spanMs}">
${bars.map(
  (b) =>
    html`<div class="lane"><div class="bar ${b.status}" data-step="${b.name}" style="left:${b.left.toFixed(2)}%;width:${b.width.toFixed(2)}%" title="${b.name}: ${b.status}, ${b.runs} run(s), ${fmtMs(b.ms)}">${b.name} · ${fmtMs(b.ms)}</div></div>`,
)}
</div>
<p class="legend"><span><i style="background:#16a34a"></i>completed</span><span><i style="background:#2563eb"></i>running</span><span><i style="background:#dc2626"></i>failed</span> Span: <span id="timeline-span">${fmtMs(spanMs)}</span></p>`;
}
