/** GET /v1/usage?from=&to=: the caller's tokens and cost by UTC day, job type and model. */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { usageByDay } from '@spool/core/model-calls';
import { roundUsd } from '@spool/core/providers/cost';
import { isClientTime } from '@spool/core/time';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import { ErrorBody, emptyIsAbsent, errorResponses, json } from '../schemas.ts';

const DAY_MS = 86_400_000;
// A year: one query's worth of daily rows per type and model.
const MAX_RANGE_DAYS = 366;

const UsageRow = z
  .object({
    day: z.string().describe('UTC day, YYYY-MM-DD'),
    type: z.string(),
    model: z.string().describe('provider:model, or local'),
    calls: z.number().int().describe('Answered calls (cache hits included)'),
    cacheHits: z.number().int(),
    errors: z.number().int().describe('Failed HTTP attempts'),
    inputTokens: z.number(),
    outputTokens: z.number(),
    costUsd: z.number(),
  })
  .openapi('UsageRow');

const Totals = z.object({
  calls: z.number().int(),
  cacheHits: z.number().int(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  costUsd: z.number(),
});

const Usage = z.object({ from: z.string(), to: z.string(), data: z.array(UsageRow), totals: Totals }).openapi('Usage');

const date = z.string().max(40).refine(isClientTime, 'expected an ISO 8601 date (YYYY-MM-DD) or date-time, from 1970 to 9998');

const route = createRoute({
  method: 'get',
  path: '/v1/usage',
  summary: 'Tokens and cost by day, job type and model',
  description:
    '`from` and `to` are ISO 8601 dates or date-times (UTC). A date-only `to` includes that whole day. Default: the current UTC month up to now; with `to` alone, from the start of the month `to` ends in. At most 366 days.',
  request: { query: z.object({ from: emptyIsAbsent(date), to: emptyIsAbsent(date) }) },
  responses: {
    200: json(Usage, 'Usage rows and totals'),
    ...errorResponses,
    422: json(ErrorBody, 'A bad range'),
  },
});

const dateOnly = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);
/** A date-time without an offset is UTC, as documented (JavaScript would read it in the server's zone). */
const utc = (s: string) => new Date(dateOnly(s) || /(?:[zZ]|[+-]\d{2}:?\d{2})$/.test(s) ? s : `${s}Z`);

export function usageRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.use('/v1/usage', requireScope(deps, 'jobs:read'));
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const now = new Date();
    const to = q.to ? new Date(utc(q.to).getTime() + (dateOnly(q.to) ? DAY_MS : 0)) : now;
    // Without `from`: the start of the UTC month `to` ends in (its last instant's month), so a
    // past `to` alone asks for that month, not for a range that ends before it begins.
    const last = new Date(to.getTime() - 1);
    const from = q.from ? utc(q.from) : new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), 1));
    if (from >= to) throw new SpoolError('validation_failed', '`from` must be before `to`', { status: 422 });
    if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS) {
      throw new SpoolError('validation_failed', `the range is at most ${MAX_RANGE_DAYS} days`, { status: 422 });
    }
    const rows = await usageByDay(deps.db, c.get('tenantId'), from, to);
    const data = rows.map(({ provider, model, ...r }) => ({
      ...r,
      model: provider === 'local' && model === 'local' ? 'local' : `${provider}:${model}`,
    }));
    const totals = data.reduce(
      (t, r) => ({
        calls: t.calls + r.calls,
        cacheHits: t.cacheHits + r.cacheHits,
        inputTokens: t.inputTokens + r.inputTokens,
        outputTokens: t.outputTokens + r.outputTokens,
        costUsd: roundUsd(t.costUsd + r.costUsd),
      }),
      { calls: 0, cacheHits: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    );
    return c.json({ from: from.toISOString(), to: to.toISOString(), data, totals }, 200);
  });
}
