/** A SpoolError as a page: its status, code and message (bad filters, finished jobs, CSRF). */
import type { SpoolError } from '@spool/core/errors';
import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/** `requestId` is shown on a server failure: its details are in the log under that id. */
export function errorPage(base: string, e: SpoolError, requestId?: string): Html {
  return layout(
    base,
    `Error ${e.status}`,
    html`<h1>${e.status >= 500 ? 'Something went wrong' : 'Request refused'}</h1>
<p class="problem" id="error-message"><code id="error-code">${e.code}</code>: ${e.message}</p>
${e.status >= 500 && requestId ? html`<p>Request id: <code id="request-id">${requestId}</code></p>` : ''}
<p><a href="${base || '/'}">Jobs</a></p>`,
  );
}
