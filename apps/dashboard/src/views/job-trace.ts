/** A job's model-call trace (model_calls rows) and its webhook deliveries with every attempt. */
import type { TraceRow } from '@spool/core/model-calls';
import type { DeliveryView } from '@spool/core/store/webhooks';
import { html } from 'hono/html';
import { fmtMs, fmtUsd, type Html, when } from './layout.ts';

/** Rows shown: an ingest of a large collection makes thousands of embed calls; totals count them all. */
const MAX_CALL_ROWS = 500;

export function modelCalls(calls: TraceRow[]): Html {
  if (calls.length === 0) return html`<p id="model-calls-none">No model calls.</p>`;
  const sum = (k: 'inputTokens' | 'outputTokens' | 'costUsd') => calls.reduce((s, c) => s + Number(c[k] ?? 0), 0);
  return html`<table id="model-calls"><thead><tr><th>At</th><th>Step</th><th>Attempt / try</th><th>Model</th><th>Status</th>
<th class="num">In</th><th class="num">Out</th><th class="num">Cost</th><th class="num">Latency</th><th>Notes</th></tr></thead><tbody>
${calls.slice(0, MAX_CALL_ROWS).map(
  (c) => html`<tr data-call-id="${c.id}"><td>${when(c.createdAt)}</td><td>${c.step ?? ''}</td><td>${c.attempt} / ${c.callTry}</td>
<td>${c.kind} ${c.provider}:${c.model}${c.promptVersion ? html` <small>(${c.promptVersion})</small>` : ''}</td>
<td class="status ${c.status}">${c.status}</td><td class="num">${c.inputTokens}</td><td class="num">${c.outputTokens}</td>
<td class="num">${fmtUsd(Number(c.costUsd))}</td><td class="num">${fmtMs(c.latencyMs)}</td>
<td>${[
    c.cacheLayer ? `cache: ${c.cacheLayer}` : '',
    c.fallbackFrom ? `fallback from ${c.fallbackFrom}` : '',
    c.errorClass ? `${c.errorClass}: ${c.errorMessage ?? ''}` : '',
    c.redacted ? 'redacted' : '',
    c.injectionSuspected ? 'injection suspected' : '',
  ]
    .filter(Boolean)
    .join('; ')}</td></tr>`,
)}
</tbody><tfoot><tr><th colspan="5">${calls.length} call(s)</th><th class="num">${sum('inputTokens')}</th><th class="num">${sum('outputTokens')}</th>
<th class="num">${fmtUsd(sum('costUsd'))}</th><th colspan="2"></th></tr></tfoot></table>
${calls.length > MAX_CALL_ROWS ? html`<p>The first ${MAX_CALL_ROWS} of ${calls.length} calls; all of them: <code>GET /v1/jobs/:id/trace</code>.</p>` : ''}`;
}

export function webhookDeliveries(deliveries: DeliveryView[]): Html {
  if (deliveries.length === 0) return html`<p id="webhooks-none">No webhook deliveries.</p>`;
  return html`<table id="webhooks"><thead><tr><th>Delivery</th><th>Event</th><th>URL</th><th>Status</th><th>Attempt</th><th>At</th>
<th>HTTP</th><th class="num">Latency</th><th>Error</th><th>Next retry</th></tr></thead><tbody>
${deliveries.map((d) => {
  const head = html`<td rowspan="${Math.max(1, d.attempts.length)}"><code>${d.id}</code></td><td rowspan="${Math.max(1, d.attempts.length)}">${d.eventType}</td>
<td rowspan="${Math.max(1, d.attempts.length)}">${d.url}</td><td rowspan="${Math.max(1, d.attempts.length)}" class="status ${d.status}">${d.status}${d.nextAttemptAt ? html`<br><small>due ${when(d.nextAttemptAt)}</small>` : ''}</td>`;
  if (d.attempts.length === 0) return html`<tr data-delivery="${d.id}">${head}<td colspan="6">no attempt yet</td></tr>`;
  return d.attempts.map(
    (
      a,
      i,
    ) => html`<tr data-delivery="${d.id}" data-attempt="${a.attempt}">${i === 0 ? head : ''}<td>${a.attempt}</td><td>${when(a.at)}</td>
<td>${a.statusCode ?? ''}</td><td class="num">${fmtMs(a.latencyMs)}</td><td>${a.error ?? ''}</td><td>${when(a.nextRetryAt)}</td></tr>`,
  );
})}
</tbody></table>`;
}
