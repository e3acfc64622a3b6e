/**
 * A job's page: summary and actions, live progress, the step timeline and table, input,
 * result or error, the model-call trace and the webhook attempts.
 */
import type { TraceRow } from '@spool/core/model-calls';
import type { DeliveryView } from '@spool/core/store/webhooks';
import { html } from 'hono/html';
import type { AdminJobRow, StepRow } from '../queries.ts';
import { liveScript } from './job-live.ts';
import { modelCalls, webhookDeliveries } from './job-trace.ts';
import { durationMs, fmtMs, fmtUsd, type Html, json, layout, when } from './layout.ts';
import { timeline, timelineBars, timelineSpan } from './timeline.ts';

export interface JobView {
  base: string;
  job: AdminJobRow;
  calls: TraceRow[];
  deliveries: DeliveryView[];
  /** The action just done (after the redirect of a POST), shown once. */
  done?: string | undefined;
  now?: number;
}

const DONE: Record<string, string> = {
  canceled: 'Cancel requested.',
  retried: 'Queued again.',
  redelivered: 'Webhook delivery queued again.',
};

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

/** POST forms: the CSRF check is the browser's Origin / Sec-Fetch-Site (see csrf.ts), so no token field. */
function actions(base: string, j: AdminJobRow, deliveries: DeliveryView[]): Html {
  const button = (path: string, label: string, id: string) =>
    html`<form class="inline" method="post" action="${base}/jobs/${j.id}/${path}"><button type="submit" id="${id}">${label}</button></form>`;
  return html`<p id="actions">
${j.status === 'queued' || j.status === 'running' ? button('cancel', 'Cancel job', 'cancel') : ''}
${j.status === 'failed' || j.status === 'canceled' ? button('retry', 'Retry job', 'retry') : ''}
${deliveries.length > 0 ? button('webhooks/redeliver', 'Redeliver webhook', 'redeliver') : ''}
</p>`;
}

export function jobPage(v: JobView): Html {
  const { base, job: j } = v;
  const now = v.now ?? Date.now();
  const steps = j.steps ?? [];
  const live = j.status === 'queued' || j.status === 'running';
  const pct = j.progress?.pct ?? (j.status === 'completed' ? 100 : 0);
  const span = timelineSpan(steps, j.started_at, j.finished_at, now);
  const startedAt = j.started_at ? new Date(j.started_at).toISOString() : null;
  return layout(
    base,
    `Job ${j.id}`,
    html`<h1>Job <code>${j.id}</code></h1>
${v.done && Object.hasOwn(DONE, v.done) ? html`<p class="notice" id="done">${DONE[v.done]}</p>` : ''}
${actions(base, j, v.deliveries)}
<table id="summary">
<tr><th>Type</th><td>${j.type}</td></tr>
<tr><th>Status</th><td id="status" class="status ${j.status}">${j.status}</td></tr>
${j.cancel_requested_at && live ? html`<tr><th>Cancel requested</th><td id="cancel-requested">${when(j.cancel_requested_at)}</td></tr>` : ''}
<tr><th>Tenant</th><td><a href="${base || '/'}?tenant=${j.tenant_id}">${j.tenant_name ?? ''}</a> <code>${j.tenant_id}</code></td></tr>
<tr><th>Attempts</th><td>${j.attempts}</td></tr>
<tr><th>Created</th><td>${when(j.created_at)}</td></tr>
<tr><th>Started</th><td>${when(j.started_at)}</td></tr>
<tr><th>Finished</th><td>${when(j.finished_at)} ${fmtMs(durationMs(j.started_at, j.finished_at))}</td></tr>
${j.usage ? html`<tr><th>Usage</th><td id="usage">${j.usage.inputTokens} in / ${j.usage.outputTokens} out tokens, ${fmtUsd(Number(j.usage.costUsd))}</td></tr>` : ''}
</table>
<h2>Progress</h2>
<div id="live"><progress id="progress" max="100" value="${pct}"></progress> <span id="progress-text">${Math.round(pct)}% ${j.progress?.message ?? ''}</span></div>
<h2>Timeline</h2>
${timeline(timelineBars(steps, span.t0, span.t1, now), span.t1 - span.t0)}
<h2>Steps</h2>
${stepRows(steps)}
<h2>Input</h2><pre id="input">${json(j.input)}</pre>
${j.error ? html`<h2>Error</h2><pre id="error">${json(j.error)}</pre>` : ''}
${j.result !== null && j.result !== undefined ? html`<h2>Result</h2><pre id="result">${json(j.result)}</pre>` : ''}
<h2>Model calls</h2>
${modelCalls(v.calls)}
<h2>Webhooks</h2>
${webhookDeliveries(v.deliveries)}
<h2>Events</h2>
<ol id="events"></ol>
${live ? liveScript({ eventsUrl: `${base}/jobs/${j.id}/events?after=${j.last_seq}`, steps, startedAt, serverNow: now }) : ''}`,
  );
}
