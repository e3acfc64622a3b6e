/**
 * Webhook routes: a job's delivery attempts and redelivery, the tenant's default webhook URL,
 * and (admin) secret rotation with an overlap during which both secrets sign.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { tenants } from '@spool/core/db/schema';
import { SpoolError } from '@spool/core/errors';
import { newWebhookSecret } from '@spool/core/ids';
import { listDeliveries, resetLatestDelivery } from '@spool/core/store/webhooks';
import { checkWebhookTarget } from '@spool/core/webhooks';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireAdmin, requireScope } from '../middleware/auth.ts';

const DefaultWebhook = z.object({ url: z.string().url().max(2048).nullable() });

export function webhookRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  const read = requireScope(deps, 'jobs:read');
  const write = requireScope(deps, 'jobs:write');

  app.get('/v1/jobs/:id/webhooks', read, async (c) => {
    const job = await deps.jobs.get(c.get('tenantId'), c.req.param('id'));
    return c.json({ data: await listDeliveries(deps.db, c.get('tenantId'), job.id) });
  });

  app.post('/v1/jobs/:id/webhooks/redeliver', write, async (c) => {
    const job = await deps.jobs.get(c.get('tenantId'), c.req.param('id'));
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
    if (!parsed.success)
      throw new SpoolError('validation_failed', z.prettifyError(parsed.error), { status: 422, details: parsed.error.issues });
    if (parsed.data.url) await checkWebhookTarget(parsed.data.url, deps.config.allowPrivateWebhooks);
    await deps.db.orm
      .update(tenants)
      .set({ defaultWebhookUrl: parsed.data.url })
      .where(eq(tenants.id, c.get('tenantId')));
    return c.json({ url: parsed.data.url });
  });

  app.post('/v1/admin/tenants/:id/webhook-secret/rotate', requireAdmin(deps), async (c) => {
    const [current] = await deps.db.orm
      .select()
      .from(tenants)
      .where(eq(tenants.id, c.req.param('id')));
    if (!current) throw new SpoolError('not_found', 'tenant not found', { status: 404 });
    const webhookSecret = newWebhookSecret();
    const previousSecretExpiresAt = new Date(Date.now() + deps.config.webhookSecretOverlapMs);
    await deps.db.orm
      .update(tenants)
      .set({ webhookSecret, previousWebhookSecret: current.webhookSecret, previousSecretExpiresAt })
      .where(eq(tenants.id, current.id));
    return c.json({ webhookSecret, previousSecretExpiresAt: previousSecretExpiresAt.toISOString() }, 200);
  });
}
