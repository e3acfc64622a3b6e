/**
 * The job page's live part, a few lines of inline JavaScript: follows the dashboard's own SSE
 * route (admin-authenticated like every page, so it works standalone and under /admin) and
 * updates the status, the progress bar, the steps table and the timeline in place. At the
 * terminal event it reloads once, to show the result, the trace and the webhooks.
 */
import { createHash } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { StepRow } from '../queries.ts';
import { type Html, scriptJson } from './layout.ts';

export interface LiveData {
  eventsUrl: string;
  steps: StepRow[];
  startedAt: string | null;
  /** The server's clock when the page was rendered: step events are timed on it, not the browser's. */
  serverNow: number;
}

// Kept as plain JS in a string: no bundler, and the same bar arithmetic as timeline.ts.
const SCRIPT = `
(() => {
  const data = JSON.parse(document.getElementById('job-data').textContent);
  const skew = data.serverNow - Date.now();
  const now = () => Date.now() + skew;
  const steps = data.steps.map((s) => ({ ...s, start: Date.parse(s.startedAt), end: s.finishedAt ? Date.parse(s.finishedAt) : null }));
  let jobStart = data.startedAt ? Date.parse(data.startedAt) : null;
  const $ = (id) => document.getElementById(id);
  const fmt = (ms) => (ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(2) + ' s');
  const iso = (t) => new Date(t).toISOString().replace('T', ' ').replace('Z', '');
  const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; };
  let live = true;

  function drawTimeline() {
    const box = $('timeline');
    const t = now();
    const t0 = Math.min(jobStart ?? Infinity, ...steps.map((s) => s.start));
    if (!Number.isFinite(t0)) return;
    const t1 = Math.max(t, ...steps.map((s) => s.end ?? t));
    const span = Math.max(1, t1 - t0);
    box.replaceChildren(...steps.map((s) => {
      const end = s.end ?? t;
      const left = Math.min(100, Math.max(0, ((s.start - t0) / span) * 100));
      const lane = document.createElement('div'); lane.className = 'lane';
      const bar = document.createElement('div');
      bar.className = 'bar ' + s.status; bar.dataset.step = s.name;
      bar.style.left = left.toFixed(2) + '%';
      bar.style.width = Math.min(100 - left, Math.max(0, ((end - s.start) / span) * 100)).toFixed(2) + '%';
      bar.textContent = s.name + ' · ' + fmt(end - s.start);
      bar.title = s.name + ': ' + s.status + ', ' + s.runs + ' run(s)';
      lane.appendChild(bar); return lane;
    }));
    box.dataset.spanMs = String(span);
    $('timeline-span').textContent = fmt(span);
  }

  function drawStep(s) {
    const body = $('steps').tBodies[0];
    let row = body.querySelector('tr[data-step="' + CSS.escape(s.name) + '"]');
    const cells = [cell(String(steps.indexOf(s) + 1)), cell(s.name), cell(s.status, 'status ' + s.status), cell(String(s.runs)),
      cell(iso(s.start)), cell(s.end ? fmt(s.end - s.start) : '')];
    if (!row) { row = document.createElement('tr'); row.dataset.step = s.name; body.appendChild(row); }
    row.replaceChildren(...cells);
  }

  function setStatus(status, extra) {
    const el = $('status'); el.className = 'status ' + status; el.textContent = status + (extra ? ' ' + extra : '');
  }

  const list = $('events');
  const log = (type, text) => {
    const li = document.createElement('li'); li.textContent = type + ' ' + text; list.appendChild(li);
    while (list.children.length > 200) list.removeChild(list.firstChild);
  };

  const es = new EventSource(data.eventsUrl);
  es.addEventListener('status', (e) => {
    const d = JSON.parse(e.data); log('status', e.data);
    if (d.status === 'running' && jobStart === null) jobStart = now();
    if (d.status) setStatus(d.status, d.attempt ? '(attempt ' + d.attempt + ')' : '');
  });
  es.addEventListener('progress', (e) => {
    const d = JSON.parse(e.data); log('progress', e.data);
    if (typeof d.pct === 'number') { $('progress').value = d.pct; $('progress-text').textContent = Math.round(d.pct) + '% ' + (d.message ?? ''); }
  });
  es.addEventListener('step', (e) => {
    const d = JSON.parse(e.data); log('step', e.data);
    let s = steps.find((x) => x.name === d.name);
    if (!s) { s = { name: d.name, status: d.status, runs: 0, start: now(), end: null }; steps.push(s); }
    if (d.status === 'running') { s.start = now(); s.end = null; s.runs = d.runs ?? s.runs + 1; }
    else s.end = now();
    s.status = d.status;
    drawStep(s); drawTimeline();
  });
  for (const t of ['completed', 'failed', 'canceled']) es.addEventListener(t, (e) => {
    log(t, e.data); setStatus(t); live = false; es.close();
    setTimeout(() => location.reload(), 300);
  });
  // Running bars grow while nothing else happens.
  const tick = setInterval(() => { if (live) drawTimeline(); else clearInterval(tick); }, 500);
})();
`;

/** The script's hash, for the Content-Security-Policy that lets it, and nothing else inline, run. */
export const LIVE_SCRIPT_HASH = `'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`;

export function liveScript(d: LiveData): Html {
  return html`<script type="application/json" id="job-data">${scriptJson(d)}</script>
<script>${raw(SCRIPT)}</script>`;
}
