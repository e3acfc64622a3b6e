/**
 * The operators' dashboard: Bull Board at `/queues` and the job explorer at `/`, all behind
 * the admin token. `createDashboard(deps)` does no I/O of its own; main.ts serves it alone
 * and the one-process mode mounts it under `/admin` of the API.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Database } from '@spool/core/db';
import { isUnavailable, SpoolError, toClientError } from '@spool/core/errors';
import { type EventBuffer, type EventHub, followJob } from '@spool/core/events';
import type { JobService } from '@spool/core/jobs';
import type { Logger } from '@spool/core/logger';
import { jobTrace } from '@spool/core/model-calls';
import { SCHEDULE_QUEUE } from '@spool/core/schedules';
import { listDeliveries } from '@spool/core/store/webhooks';
import { WEBHOOK_QUEUE, type WebhookProducer } from '@spool/core/webhooks';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { streamSSE } from 'hono/streaming';
import { findJob, registerActions } from './actions.ts';
import { type KeyLookup, requireAdminToken } from './auth.ts';
import { boardWrites } from './board-writes.ts';
import { sameOriginWrites } from './csrf.ts';
import { parseListQuery } from './filters.ts';
import { registerOverview } from './overview.ts';
import { listAllJobs } from './queries.ts';
import { securityHeaders } from './security-headers.ts';
import { errorPage, jobList, jobPage } from './views/index.ts';

export interface DashboardDeps {
  db: Database;
  /** Every queue Bull Board shows: one per registered job type, plus `webhooks`. */
  queues: Queue[];
  /** Tenant API keys, to answer 403 (not 401) to a tenant key. */
  keys: KeyLookup;
  adminToken: string | undefined;
  /** The API's job service: the explorer's cancel and retry go through it. */
  jobs: Pick<JobService, 'cancel' | 'retry'>;
  /** The webhook queue's producer: redelivery re-adds the delivery. */
  webhooks: Pick<WebhookProducer, 'requeue'>;
  /** Where the dashboard is mounted ('' standalone, '/admin' in the one-process mode). */
  basePath?: string;
  /** Where a page's unexpected failure is logged (the page itself shows only its request id). */
  log: Logger;
  /** Live events on the job page (optional: without them the page is static). */
  events?: { hub: EventHub; buffer: EventBuffer; maxBuffered?: number; heartbeatMs?: number };
}

/** Queues that carry Spool's own work, not jobs of a type. */
const NOT_JOBS = new Set([WEBHOOK_QUEUE, SCHEDULE_QUEUE]);

export function createDashboard(deps: DashboardDeps): Hono {
  const base = (deps.basePath ?? '').replace(/\/+$/, '');
  const app = new Hono();
  // Like the API: every response names a request id (the client's own if it sent a sane one).
  app.use('*', requestId());
  app.use('*', securityHeaders(base));
  app.use('*', requireAdminToken(deps.adminToken, deps.keys));
  app.use('*', sameOriginWrites());
  // Routes have no trailing slash, but the printed URL (`/admin/`) and Bull Board's base href
  // (`/queues/`) do: send those to the page they name. After the auth check, so a request
  // without the token still gets its 401 and never a redirect.
  app.use('*', async (c, next) => {
    const path = c.req.path;
    if (path.length <= 1 || !path.endsWith('/') || !['GET', 'HEAD'].includes(c.req.method)) return next();
    // The path as sent (c.req.path is decoded: `%5C` would come back as `\`), with one leading
    // slash: `//evil.example` in Location is another site, not a path on this one.
    const url = new URL(c.req.url);
    const to = url.pathname.replace(/^\/+/, '/').replace(/\/+$/, '') || '/';
    return c.redirect(`${to}${url.search}`, 308);
  });
  // Bad filters, finished jobs, refused writes: a page with the code and message. A failure of
  // the dashboard itself shows no more than the API would: its text goes to the log, and the
  // page names the request id to find it by.
  app.onError((err, c) => {
    const e = toClientError(err);
    const requestId = c.get('requestId');
    if (e.status >= 500 && e.status !== 503) deps.log.error({ err, requestId }, 'dashboard request failed');
    if (e.retryAfterMs !== undefined) c.header('Retry-After', String(Math.ceil(e.retryAfterMs / 1000)));
    return c.html(errorPage(base, e, requestId), e.status as 400);
  });

  // Bull Board: its API under /queues/api, its UI and static assets under /queues.
  const board = new HonoAdapter(serveStatic);
  board.setBasePath(`${base}/queues`);
  app.use('/queues/*', boardWrites(deps.queues, `${base}/queues`));
  const jobQueues = new Set(deps.queues.map((q) => q.name).filter((n) => !NOT_JOBS.has(n)));
  createBullBoard({
    // A job of a job type links to its explorer page, where it can be canceled.
    queues: deps.queues.map(
      (q) =>
        new BullMQAdapter(
          q,
          jobQueues.has(q.name) ? { externalJobUrl: (job) => ({ displayText: 'Spool', href: `${base}/jobs/${job.id}` }) } : {},
        ),
    ),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'Spool queues' } },
  });
  // Bull Board answers whatever its handlers throw with 500 and the error's text (BullMQ's own
  // words, useful to an operator: "job is not in the failed state"). Redis down is an outage,
  // answered 503 as the API answers it.
  board.setErrorHandler((err) => {
    const e = isUnavailable(err) ? toClientError(err) : undefined;
    return {
      // Bull Board's status type stops at 500; its Hono adapter sends whatever status it gets.
      status: (e?.status ?? 500) as 500,
      body: { error: { key: 'ERRORS.INTERNAL_SERVER_ERROR' }, message: e?.message ?? err.message },
    };
  });
  app.route('/queues', board.registerPlugin());

  const types = [...jobQueues].sort();

  app.get('/', async (c) => {
    const filter = parseListQuery((k) => c.req.query(k));
    const rows = await listAllJobs(deps.db, { ...filter, limit: filter.limit + 1 });
    const jobs = rows.slice(0, filter.limit);
    const next = rows.length > filter.limit ? jobs[jobs.length - 1]?.id : undefined;
    return c.html(jobList({ base, jobs, types, filter, next }));
  });

  app.get('/jobs/:id', async (c) => {
    const job = await findJob(deps, c.req.param('id'));
    const [calls, deliveries] = await Promise.all([
      jobTrace(deps.db, job.tenant_id, job.id),
      listDeliveries(deps.db, job.tenant_id, job.id),
    ]);
    return c.html(jobPage({ base, job, calls: calls ?? [], deliveries, done: c.req.query('done') }));
  });

  registerActions(app, deps, base);
  registerOverview(app, deps, base);

  // The job's events over SSE, for any tenant (the tenant route needs the tenant's key). Its
  // refusals go through onError like every other page's, with the API's codes for the same input.
  app.get('/jobs/:id/events', async (c) => {
    const ev = deps.events;
    if (!ev) throw new SpoolError('not_found', 'live events are not configured', { status: 404 });
    const raw = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    if (!/^\d{1,9}$/.test(raw))
      throw new SpoolError('invalid_event_id', 'Last-Event-ID and after must be event seq numbers', { status: 400 });
    const job = await findJob(deps, c.req.param('id'));
    const after = Number(raw);
    if (['completed', 'failed', 'canceled'].includes(job.status) && after >= job.last_seq) return c.body(null, 204);
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const aborted = new AbortController();
      stream.onAbort(() => aborted.abort());
      const heartbeat = setInterval(
        () => void stream.write(': heartbeat\n\n').catch(() => aborted.abort()),
        ev.heartbeatMs ?? 15_000,
      );
      try {
        for await (const e of followJob({
          db: deps.db,
          hub: ev.hub,
          buffer: ev.buffer,
          jobId: job.id,
          after,
          maxBuffered: ev.maxBuffered ?? 1_000,
          signal: aborted.signal,
        })) {
          await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e.data) });
        }
      } catch {
        // A subscriber gone, or the stream failed: the browser's EventSource reconnects with Last-Event-ID.
      } finally {
        clearInterval(heartbeat);
      }
    });
  });

  return app;
}
