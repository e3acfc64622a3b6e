/** /v1/admin/tenants/:id/budget: a tenant's spend caps (admin token only; see providers/budget.ts). */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { setTenantBudget, tenantBudget, tenantSpend } from '@spool/core/model-calls';
import { forgetTenantBudget } from '@spool/core/providers/budget';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { adminOnly, errorResponses, json } from '../schemas.ts';

// The column is numeric(14, 6): 8 digits before the point, 6 after. A larger cap overflowed it
// (a misleading 422), and a positive cap under a millionth was rounded to 0, which means
// "nothing may be spent": both are refused here with a message that says why.
const cap = z
  .number()
  .min(0)
  .max(99_999_999, 'a cap is at most 99,999,999 USD')
  .refine((v) => v === 0 || v >= 0.000001, 'a cap is 0 or at least 0.000001 USD (caps are kept to 6 decimals)')
  .nullable()
  .describe('USD, at most 99,999,999, kept to 6 decimals; null = the deployment default; 0 = nothing may be spent');

const Budget = z
  .object({
    tenantId: z.string(),
    dailyUsd: cap,
    monthlyUsd: cap,
    spent: z.object({ todayUsd: z.number(), monthUsd: z.number() }).describe('This UTC day and month'),
  })
  .openapi('TenantBudget');

const params = z.object({ id: z.string().max(64) });

const getRoute = createRoute({
  ...adminOnly,
  method: 'get',
  path: '/v1/admin/tenants/{id}/budget',
  summary: 'A tenant’s spend caps and spend',
  request: { params },
  responses: { 200: json(Budget, 'Caps and spend'), ...errorResponses },
});

const putRoute = createRoute({
  ...adminOnly,
  method: 'put',
  path: '/v1/admin/tenants/{id}/budget',
  summary: 'Set a tenant’s daily and monthly spend caps',
  description:
    'Applies to every process within a few seconds. A submit of a model-calling job type once a cap is used up gets 402 `budget_exceeded`.',
  request: {
    params,
    body: {
      // Strict, and at least one cap named: a misspelt field (`daily`), an empty object or no
      // body at all (which the validator reads as `{}`) would otherwise set both caps back to
      // the defaults, answered 200. A cap left out is set to its default (null).
      content: {
        'application/json': {
          schema: z
            .object({ dailyUsd: cap.optional(), monthlyUsd: cap.optional() })
            .strict()
            .refine((b) => b.dailyUsd !== undefined || b.monthlyUsd !== undefined, {
              message: 'name dailyUsd, monthlyUsd or both (null sets a cap back to the deployment default)',
            }),
        },
      },
      required: true,
    },
  },
  responses: { 200: json(Budget, 'Caps and spend'), ...errorResponses },
});

export function budgetRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  // /v1/admin/* is behind requireAdmin (routes/admin.ts).
  const show = async (tenantId: string) => {
    const own = await tenantBudget(deps.db, tenantId);
    if (!own) throw new SpoolError('not_found', `tenant ${tenantId} not found`, { status: 404 });
    const spent = await tenantSpend(deps.db, tenantId);
    return { tenantId, ...own, spent: { todayUsd: spent.dayUsd, monthUsd: spent.monthUsd } };
  };
  app.openapi(getRoute, async (c) => c.json(await show(c.req.valid('param').id), 200));
  app.openapi(putRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    if (!(await setTenantBudget(deps.db, id, { dailyUsd: body.dailyUsd ?? null, monthlyUsd: body.monthlyUsd ?? null }))) {
      throw new SpoolError('not_found', `tenant ${id} not found`, { status: 404 });
    }
    forgetTenantBudget(id);
    return c.json(await show(id), 200);
  });
}
