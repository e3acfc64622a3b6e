/**
 * Webhook routes: a job's delivery attempts and redelivery, the tenant's default webhook URL,
 * and (admin) secret rotation with an overlap during which both secrets sign.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { tenants } from '@spool/core/db/schema';
import { SpoolError } from '@spool/core/errors';
import { newWebhookSecret } from '@spool/core/ids';
import { listDeliveries, resetLatestDelivery } from '@spool/core/store/webhooks';
import { screenWebhookUrl } from '@spool/core/webhooks';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireAdmin, requireScope } from '../middleware/auth.ts';
import { validationFailed } from '../middleware/errors.ts';
import { adminOnly, errorResponses, JobIdParam, jobIdOf, json, StorableText } from '../schemas.ts';

const DefaultWebhook = z.object({ url: StorableText().url().max(2048).nullable() });

export function webhookRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  documentRoutes(app);
  const read = requireScope(deps, 'jobs:read');
  const write = requireScope(deps, 'jobs:write');

  app.get('/v1/jobs/:id/webhooks', read, async (c) => {
    const job = await deps.jobs.get(c.get('tenantId'), jobIdOf(c));
    // Every attempt of one job, one page: every list is `{data, nextCursor}` (SPEC).
    return c.json({ data: await listDeliveries(deps.db, c.get('tenantId'), job.id), nextCursor: null });
  });

  app.post('/v1/jobs/:id/webhooks/redeliver', write, async (c) => {
    const job = await deps.jobs.get(c.get('tenantId'), jobIdOf(c));
    const id = await resetLatestDelivery(deps.db, c.get('tenantId'), job.id);
    if (!id) throw new SpoolError('not_found', `job ${job.id} has no webhook delivery to redeliver`, { status: 404 });
    await deps.webhooks.requeue(id);
    const deliveries = await listDeliveries(deps.db, c.get('tenantId'), job.id);
    return c.json(
      deliveries.find((d) => d.id === id),
      202,
    );
  });

  app.get('/v1/webhook', read, async (c) => {
    const [row] = await deps.db.orm
      .select({ url: tenants.defaultWebhookUrl })
      .from(tenants)
      .where(eq(tenants.id, c.get('tenantId')));
    return c.json({ url: row?.url ?? null });
  });

  app.put('/v1/webhook', write, async (c) => {
    const body = await c.req.json().catch(() => {
      throw new SpoolError('invalid_json', 'the request body is not valid JSON', { status: 400 });
    });
    const parsed = DefaultWebhook.safeParse(body);
    // The same 422 as the OpenAPI routes give (z.prettifyError's multi-line text and raw zod
    // issues made this one route's answer unlike every other).
    if (!parsed.success) throw validationFailed(parsed.error.issues);
    if (parsed.data.url) await screenWebhookUrl(parsed.data.url, deps.config.allowPrivateWebhooks);
    await deps.db.orm
      .update(tenants)
      .set({ defaultWebhookUrl: parsed.data.url })
      .where(eq(tenants.id, c.get('tenantId')));
    return c.json({ url: parsed.data.url });
  });

  app.post('/v1/admin/tenants/:id/webhook-secret/rotate', requireAdmin(deps), async (c) => {
    const webhookSecret = newWebhookSecret();
    const previousSecretExpiresAt = new Date(Date.now() + deps.config.webhookSecretOverlapMs);
    // One statement: the row's own secret becomes the previous one. Read, then written, two
    // rotations at once both kept the secret they read, and one answered secret never signed.
    const [rotated] = await deps.db.orm
      .update(tenants)
      .set({ webhookSecret, previousWebhookSecret: sql`${tenants.webhookSecret}`, previousSecretExpiresAt })
      .where(eq(tenants.id, c.req.param('id')))
      .returning({ id: tenants.id });
    if (!rotated) throw new SpoolError('not_found', 'tenant not found', { status: 404 });
    return c.json({ webhookSecret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() }, 200);
  });
}

/** The OpenAPI entries of these routes (they validate by hand, so they are registered, not generated). */
function documentRoutes(app: OpenAPIHono<AppEnv>) {
  const Delivery = z.object({
    id: z.string().describe('The `webhook-id` header of every attempt'),
    url: z.string(),
    eventType: z.enum(['job.completed', 'job.failed', 'job.canceled']),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.array(
      z.object({
        attempt: z.number(),
        at: z.string(),
        statusCode: z.number().nullable(),
        latencyMs: z.number(),
        error: z.string().nullable(),
        nextRetryAt: z.string().nullable(),
      }),
    ),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  });
  const params = JobIdParam;
  const register = app.openAPIRegistry.registerPath.bind(app.openAPIRegistry);
  register({
    method: 'get',
    path: '/v1/jobs/{id}/webhooks',
    summary: "A job's webhook deliveries, each with every attempt (time, status code, latency, error)",
    request: { params },
    responses: {
      200: json(
        z.object({ data: z.array(Delivery), nextCursor: z.null().describe('Always null: one page') }),
        'The deliveries, oldest first',
      ),
      ...errorResponses,
    },
  });
  register({
    method: 'post',
    path: '/v1/jobs/{id}/webhooks/redeliver',
    summary: "Delivers a job's latest webhook again, now (same webhook-id)",
    request: { params },
    responses: { 202: json(Delivery, 'The delivery, pending again'), ...errorResponses },
  });
  register({
    method: 'get',
    path: '/v1/webhook',
    summary: "The tenant's default webhook URL (for jobs submitted without one)",
    responses: { 200: json(DefaultWebhook, 'The URL, or null'), ...errorResponses },
  });
  register({
    method: 'put',
    path: '/v1/webhook',
    summary: "Sets or clears (null) the tenant's default webhook URL",
    request: { body: { content: { 'application/json': { schema: DefaultWebhook } }, required: true } },
    responses: { 200: json(DefaultWebhook, 'The URL, or null'), ...errorResponses },
  });
  register({
    ...adminOnly,
    method: 'post',
    path: '/v1/admin/tenants/{id}/webhook-secret/rotate',
    summary: 'A new webhook secret (shown once); the old one also signs until previousSecretExpiresAt',
    request: { params: z.object({ id: z.string() }) },
    responses: {
      200: json(z.object({ webhookSecret: z.string(), previousSecretExpiresAt: z.string() }), 'The new secret'),
      ...errorResponses,
    },
  });
}
