/** /v1/admin: tenants and API keys. The admin token only. */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { createApiKey, createTenant, listApiKeys, SCOPES } from '@spool/core/tenants';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireAdmin } from '../middleware/auth.ts';
import { adminOnly, errorResponses, json, StorableText } from '../schemas.ts';

const TenantCreated = z
  .object({ id: z.string(), name: z.string(), apiKey: z.string(), apiKeyId: z.string(), webhookSecret: z.string() })
  .openapi('TenantCreated');
const ApiKeyFields = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string().nullable(),
  scopes: z.array(z.enum(SCOPES)),
  createdAt: z.string(),
});
const ApiKeyInfo = ApiKeyFields.extend({ keyPrefix: z.string(), revokedAt: z.string().nullable() }).openapi('ApiKeyInfo');
const ApiKeyCreated = ApiKeyFields.extend({ apiKey: z.string() }).openapi('ApiKeyCreated');

const createTenantRoute = createRoute({
  ...adminOnly,
  method: 'post',
  path: '/v1/admin/tenants',
  summary: 'Create a tenant (its API key and webhook secret are shown once)',
  request: {
    body: { content: { 'application/json': { schema: z.object({ name: StorableText().min(1).max(200) }) } }, required: true },
  },
  responses: { 201: json(TenantCreated, 'The tenant'), ...errorResponses },
});

const createKeyRoute = createRoute({
  ...adminOnly,
  method: 'post',
  path: '/v1/admin/tenants/{id}/api-keys',
  summary: 'Issue an API key (shown once)',
  request: {
    params: z.object({ id: z.string().max(64) }),
    body: {
      content: {
        'application/json': {
          schema: z.object({
            name: StorableText().max(200).optional(),
            scopes: z
              .array(z.enum(SCOPES))
              .min(1)
              .default([...SCOPES]),
          }),
        },
      },
      required: false,
    },
  },
  responses: { 201: json(ApiKeyCreated, 'The key'), ...errorResponses },
});

const listKeysRoute = createRoute({
  ...adminOnly,
  method: 'get',
  path: '/v1/admin/tenants/{id}/api-keys',
  summary: "A tenant's API keys, newest first, revoked ones included (never the keys themselves)",
  request: { params: z.object({ id: z.string().max(64) }) },
  responses: {
    200: json(z.object({ data: z.array(ApiKeyInfo), nextCursor: z.null() }), 'The keys'),
    ...errorResponses,
  },
});

const revokeKeyRoute = createRoute({
  ...adminOnly,
  method: 'delete',
  path: '/v1/admin/api-keys/{id}',
  summary: 'Revoke an API key',
  request: { params: z.object({ id: z.string().max(64) }) },
  responses: { 204: { description: 'Revoked' }, ...errorResponses },
});

export function adminRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.use('/v1/admin/*', requireAdmin(deps));

  app.openapi(createTenantRoute, async (c) => c.json(await createTenant(deps.db, c.req.valid('json').name), 201));

  app.openapi(createKeyRoute, async (c) => {
    // The body is optional: no body issues a key with every scope.
    const body: { name?: string; scopes?: (typeof SCOPES)[number][] } = c.req.valid('json') ?? {};
    const key = await createApiKey(deps.db, c.req.valid('param').id, { scopes: body.scopes ?? [...SCOPES], name: body.name });
    return c.json(key, 201);
  });

  app.openapi(listKeysRoute, async (c) =>
    c.json({ data: await listApiKeys(deps.db, c.req.valid('param').id), nextCursor: null }, 200),
  );

  app.openapi(revokeKeyRoute, async (c) => {
    if (!(await deps.keys.revoke(c.req.valid('param').id))) {
      throw new SpoolError('not_found', 'API key not found or already revoked', { status: 404 });
    }
    return c.body(null, 204);
  });
}
