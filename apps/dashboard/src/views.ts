/** Server-rendered pages of the job explorer (hono/html escapes every interpolated value). */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { type AdminJobRow, JOB_STATUSES, type StepRow } from './queries.ts';

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#1f2937;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#cbd5e1;text-decoration:none}
main{padding:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
pre{background:#f3f4f6;padding:8px;overflow:auto;max-height:320px}
.status{font-weight:600}.completed{color:#15803d}.failed{color:#b91c1c}.running{color:#1d4ed8}
.queued{color:#6b7280}.canceled{color:#a16207}
form.filters{display:flex;gap:8px;margin-bottom:12px;align-items:end}
progress{width:320px}
`;

export function layout(base: string, title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Spool</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${raw(STYLE)}</style></head>
<body><header><strong>Spool</strong><a href="${base || '/'}">Jobs</a><a href="${base}/queues">Queues (Bull Board)</a></header>
<main>${body}</main></body></html>`;
}

const when = (t: string | Date | null | undefined) => (t ? new Date(t).toISOString().replace('T', ' ').replace('Z', '') : '');

export function durationMs(start: string | Date | null | undefined, end: string | Date | null | undefined): number | undefined {
  if (!start || !end) return undefined;
  return new Date(end).getTime() - new Date(start).getTime();
}

const fmtMs = (ms: number | undefined) => (ms === undefined ? '' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`);
const json = (v: unknown) => JSON.stringify(v, null, 2) ?? 'null';

export interface ListView {
  base: string;
  jobs: AdminJobRow[];
  types: string[];
  filter: { status?: string | undefined; type?: string | undefined; tenant?: string | undefined };
  next?: string | undefined;
}

export function jobList(v: ListView): Html {
  const opt = (value: string, selected: string | undefined) =>
    html`<option value="${value}" ${selected === value ? raw('selected') : ''}>${value || 'any'}</option>`;
  const qs = (cursor: string) => {
    const p = new URLSearchParams();
    for (const [k, val] of Object.entries(v.filter)) if (val) p.set(k, val);
    p.set('cursor', cursor);
    return `?${p}`;
  };
  return layout(
    v.base,
    'Jobs',
    html`<h1>Jobs</h1>
<form class="filters" method="get" action="${v.base || '/'}">
  <label>Status<br><select name="status">${['', ...JOB_STATUSES].map((s) => opt(s, v.filter.status ?? ''))}</select></label>
  <label>Type<br><select name="type">${['', ...v.types].map((t) => opt(t, v.filter.type ?? ''))}</select></label>
  <label>Tenant id<br><input name="tenant" value="${v.filter.tenant ?? ''}" size="38"></label>
  <button type="submit">Filter</button>
</form>
<table id="jobs"><thead><tr><th>Job</th><th>Type</th><th>Status</th><th>Tenant</th><th>Attempts</th><th>Created</th><th>Duration</th></tr></thead><tbody>
${v.jobs.map(
  (j) => html`<tr data-job-id="${j.id}"><td><a href="${v.base}/jobs/${j.id}">${j.id}</a></td><td>${j.type}</td>
<td class="status ${j.status}">${j.status}</td><td title="${j.tenant_id}">${j.tenant_name ?? j.tenant_id}</td><td>${j.attempts}</td>
<td>${when(j.created_at)}</td><td>${fmtMs(durationMs(j.started_at, j.finished_at))}</td></tr>`,
)}
</tbody></table>
${v.jobs.length === 0 ? html`<p>No jobs match.</p>` : ''}
${v.next ? html`<p><a href="${qs(v.next)}">Older →</a></p>` : ''}`,
  );
}

function stepRows(steps: StepRow[]): Html {
  return html`<table id="steps"><thead><tr><th>#</th><th>Step</th><th>Status</th><th>Runs</th><th>Started</th><th>Duration</th></tr></thead><tbody>
${steps.map(
  (
    s,
    i,
  ) => html`<tr data-step="${s.name}"><td>${i + 1}</td><td>${s.name}</td><td class="status ${s.status}">${s.status}</td><td>${s.runs}</td>
<td>${when(s.startedAt)}</td><td>${fmtMs(durationMs(s.startedAt, s.finishedAt))}</td></tr>`,
)}
</tbody></table>`;
}

export function jobPage(base: string, j: AdminJobRow): Html {
  const live = j.status === 'queued' || j.status === 'running';
  const pct = j.progress?.pct ?? (j.status === 'completed' ? 100 : 0);
  return layout(
    base,
    `Job ${j.id}`,
    html`<h1>Job <code>${j.id}</code></h1>
<table>
<tr><th>Type</th><td>${j.type}</td></tr>
<tr><th>Status</th><td id="status" class="status ${j.status}">${j.status}</td></tr>
<tr><th>Tenant</th><td>${j.tenant_name ?? ''} <code>${j.tenant_id}</code></td></tr>
<tr><th>Attempts</th><td>${j.attempts}</td></tr>
<tr><th>Created</th><td>${when(j.created_at)}</td></tr>
<tr><th>Started</th><td>${when(j.started_at)}</td></tr>
<tr><th>Finished</th><td>${when(j.finished_at)} ${fmtMs(durationMs(j.started_at, j.finished_at))}</td></tr>
${j.usage ? html`<tr><th>Usage</th><td>${j.usage.inputTokens} in / ${j.usage.outputTokens} out tokens, $${j.usage.costUsd}</td></tr>` : ''}
</table>
<h2>Progress</h2>
<div id="live"><progress id="progress" max="100" value="${pct}"></progress> <span id="progress-text">${pct}% ${j.progress?.message ?? ''}</span></div>
<ol id="events"></ol>
<h2>Steps</h2>
${stepRows(j.steps ?? [])}
<h2>Input</h2><pre id="input">${json(j.input)}</pre>
${j.error ? html`<h2>Error</h2><pre id="error">${json(j.error)}</pre>` : ''}
${j.result !== null && j.result !== undefined ? html`<h2>Result</h2><pre id="result">${json(j.result)}</pre>` : ''}
${live ? liveScript(`${base}/jobs/${j.id}/events?after=${j.last_seq}`) : ''}`,
  );
}

/** Follows the job's events over SSE; reloads the page when it ends (to show steps and result). */
function liveScript(url: string): Html {
  return html`<script>
(() => {
  const es = new EventSource(${raw(JSON.stringify(url))});
  const list = document.getElementById('events');
  const add = (type, data) => { const li = document.createElement('li'); li.textContent = type + ' ' + data; list.appendChild(li); };
  es.addEventListener('progress', (e) => {
    const d = JSON.parse(e.data); add('progress', e.data);
    if (typeof d.pct === 'number') { document.getElementById('progress').value = d.pct; document.getElementById('progress-text').textContent = d.pct + '% ' + (d.message ?? ''); }
  });
  for (const t of ['status', 'step']) es.addEventListener(t, (e) => add(t, e.data));
  for (const t of ['completed', 'failed', 'canceled']) es.addEventListener(t, (e) => { add(t, e.data); es.close(); setTimeout(() => location.reload(), 300); });
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) return; };
})();
</script>`;
}
