/**
 * The explorer's actions: cancel, retry and redeliver webhook, as POST forms. They call the
 * same core code as the tenant API (JobService, the webhook outbox and producer) on behalf of
 * the job's tenant, then redirect back to the job page (303: reloading it does not post again).
 * CSRF: see csrf.ts, applied to the whole dashboard.
 */
import { SpoolError } from '@spool/core/errors';
import { resetLatestDelivery } from '@spool/core/store/webhooks';
import type { Hono } from 'hono';
import type { DashboardDeps } from './app.ts';
import { UUID } from './filters.ts';
import { type AdminJobRow, getAnyJob } from './queries.ts';

/** The job of any tenant, or a 404 not_found (the error page, as every refusal). */
export async function findJob(deps: Pick<DashboardDeps, 'db'>, id: string): Promise<AdminJobRow> {
  const job = UUID.test(id) ? await getAnyJob(deps.db, id) : undefined;
  if (!job) throw new SpoolError('not_found', `job ${id} not found`, { status: 404 });
  return job;
}

export function registerActions(app: Hono, deps: DashboardDeps, base: string): void {
  const back = (id: string, done: string) => `${base}/jobs/${id}?done=${done}`;

  // queued → canceled at once; running → the worker is told and aborts (409 when finished).
  app.post('/jobs/:id/cancel', async (c) => {
    const job = await findJob(deps, c.req.param('id'));
    await deps.jobs.cancel(job.tenant_id, job.id);
    return c.redirect(back(job.id, 'canceled'), 303);
  });

  // failed or canceled → queued again, completed steps kept (409 otherwise).
  app.post('/jobs/:id/retry', async (c) => {
    const job = await findJob(deps, c.req.param('id'));
    await deps.jobs.retry(job.tenant_id, job.id);
    return c.redirect(back(job.id, 'retried'), 303);
  });

  // The job's latest delivery becomes pending and due now, as POST /v1/jobs/:id/webhooks/redeliver.
  app.post('/jobs/:id/webhooks/redeliver', async (c) => {
    const job = await findJob(deps, c.req.param('id'));
    const id = await resetLatestDelivery(deps.db, job.tenant_id, job.id);
    if (!id) throw new SpoolError('not_found', `job ${job.id} has no webhook delivery to redeliver`, { status: 404 });
    await deps.webhooks.requeue(id);
    return c.redirect(back(job.id, 'redelivered'), 303);
  });
}
