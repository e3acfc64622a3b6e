/** The jobs list: filters (status, type, tenant, created from/to in UTC) and keyset pages. */
import { html, raw } from 'hono/html';
import { type ListQuery, listQueryString, toLocalInput } from '../filters.ts';
import { type AdminJobRow, JOB_STATUSES } from '../queries.ts';
import { durationMs, fmtMs, type Html, layout, when } from './layout.ts';

export interface ListView {
  base: string;
  jobs: AdminJobRow[];
  types: string[];
  filter: ListQuery;
  /** The cursor of the next (older) page, if any. */
  next?: string | undefined;
}

export function jobList(v: ListView): Html {
  const f = v.filter;
  const opt = (value: string, selected: string | undefined) =>
    html`<option value="${value}" ${selected === value ? raw('selected') : ''}>${value || 'any'}</option>`;
  // A type that is no longer registered can still be filtered on (old rows keep their type).
  const types = f.type && !v.types.includes(f.type) ? [...v.types, f.type] : v.types;
  return layout(
    v.base,
    'Jobs',
    html`<h1>Jobs</h1>
<form class="filters" method="get" action="${v.base || '/'}">
  <label>Status<br><select name="status">${['', ...JOB_STATUSES].map((s) => opt(s, f.status ?? ''))}</select></label>
  <label>Type<br><select name="type">${['', ...types].map((t) => opt(t, f.type ?? ''))}</select></label>
  <label>Tenant (id or name)<br><input name="tenant" value="${f.tenant ?? ''}" size="30"></label>
  <label>Created from (UTC)<br><input type="datetime-local" name="from" value="${toLocalInput(f.from)}"></label>
  <label>to (UTC)<br><input type="datetime-local" name="to" value="${toLocalInput(f.to)}"></label>
  <button type="submit">Filter</button> <a href="${v.base || '/'}">Clear</a>
</form>
<table id="jobs"><thead><tr><th>Job</th><th>Type</th><th>Status</th><th>Tenant</th><th>Attempts</th><th>Created</th><th>Duration</th></tr></thead><tbody>
${v.jobs.map(
  (j) => html`<tr data-job-id="${j.id}"><td><a href="${v.base}/jobs/${j.id}">${j.id}</a></td><td>${j.type}</td>
<td class="status ${j.status}">${j.status}</td><td title="${j.tenant_id}">${j.tenant_name ?? j.tenant_id}</td><td>${j.attempts}</td>
<td>${when(j.created_at)}</td><td>${fmtMs(durationMs(j.started_at, j.finished_at))}</td></tr>`,
)}
</tbody></table>
${v.jobs.length === 0 ? html`<p>No jobs match.</p>` : ''}
${v.next ? html`<p><a id="older" href="${v.base || '/'}${listQueryString(f, { cursor: v.next })}">Older →</a></p>` : ''}`,
  );
}
