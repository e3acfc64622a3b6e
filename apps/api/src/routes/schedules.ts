/**
 * /v1/schedules: recurring jobs (a cron expression and a job template), tenant-scoped. Create,
 * update and delete take `jobs:write` (a schedule submits jobs), reads take `jobs:read`.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { CreateScheduleRequest, UpdateScheduleRequest } from '@spool/core/schedules';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import { ErrorBody, errorResponses, idCursor, json, PageLimit } from '../schemas.ts';

const Schedule = z
  .object({
    id: z.string().describe('`sch_…`'),
    name: z.string().nullable(),
    cron: z.string().describe('5 fields (minute first) or 6 (second first), or a macro such as `@daily`'),
    timezone: z.string().nullable().describe('IANA zone the expression is read in; null means UTC'),
    job: z.object({
      type: z.string(),
      input: z.unknown().nonoptional(),
      priority: z.number().int().nullable(),
      webhook: z.object({ url: z.string() }).nullable(),
      metadata: z.record(z.string(), z.unknown()),
    }),
    enabled: z.boolean(),
    createdAt: z.string(),
    nextRunAt: z.string().nullable(),
    lastRunAt: z.string().nullable().describe('The time of the last tick handled'),
    lastJobId: z.string().nullable().describe('The job the last tick made'),
    lastError: z.object({ code: z.string(), message: z.string() }).nullable().describe('Why the last tick made no job'),
  })
  .openapi('Schedule');

const ScheduleList = z.object({ data: z.array(Schedule), nextCursor: z.string().nullable() }).openapi('ScheduleList');
const ScheduleIdParam = z.object({ id: z.string().min(1).max(64) });

const create = createRoute({
  method: 'post',
  path: '/v1/schedules',
  summary: 'Create a schedule',
  description:
    'Each tick submits `job` like `POST /v1/jobs` (idempotency key `schedule:<id>:<tick ms>`, `metadata.scheduleId` set). ' +
    'The template is validated now; a tick it no longer fits is recorded in `lastError`.',
  request: { body: { content: { 'application/json': { schema: CreateScheduleRequest } }, required: true } },
  responses: {
    201: json(Schedule, 'Created'),
    ...errorResponses,
    409: json(ErrorBody, '`too_many_schedules`'),
    422: json(ErrorBody, '`invalid_cron`, `invalid_timezone`, `unknown_job_type` or `validation_failed`'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/schedules',
  summary: 'List schedules, newest first',
  request: {
    query: z.object({ limit: PageLimit, cursor: idCursor('sch_') }),
  },
  responses: { 200: json(ScheduleList, 'A page of schedules; pass nextCursor as cursor for the next'), ...errorResponses },
});

const get = createRoute({
  method: 'get',
  path: '/v1/schedules/{id}',
  summary: 'Get a schedule',
  request: { params: ScheduleIdParam },
  responses: { 200: json(Schedule, 'The schedule'), ...errorResponses },
});

const update = createRoute({
  method: 'patch',
  path: '/v1/schedules/{id}',
  summary: 'Update, pause or resume a schedule',
  description:
    'Fields left out keep their value; `enabled: false` pauses (no ticks), `true` resumes from the next tick due ' +
    '(ticks missed while paused are not made up); `job` replaces the whole template. Validated like a create.',
  request: {
    params: ScheduleIdParam,
    body: { content: { 'application/json': { schema: UpdateScheduleRequest } }, required: true },
  },
  responses: {
    200: json(Schedule, 'The schedule as updated'),
    ...errorResponses,
    422: json(ErrorBody, '`invalid_cron`, `invalid_timezone`, `unknown_job_type` or `validation_failed`'),
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/schedules/{id}',
  summary: 'Delete a schedule',
  description: 'No more ticks; jobs it already made are kept.',
  request: { params: ScheduleIdParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses },
});

export function scheduleRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  const write = requireScope(deps, 'jobs:write');
  const read = requireScope(deps, 'jobs:read');
  app.on(['POST', 'PATCH', 'DELETE'], ['/v1/schedules', '/v1/schedules/*'], write);
  app.on('GET', ['/v1/schedules', '/v1/schedules/*'], read);

  app.openapi(create, async (c) => c.json(await deps.schedules.create(c.get('tenantId'), c.req.valid('json')), 201));
  app.openapi(list, async (c) => c.json(await deps.schedules.list(c.get('tenantId'), c.req.valid('query')), 200));
  app.openapi(get, async (c) => c.json(await deps.schedules.get(c.get('tenantId'), c.req.valid('param').id), 200));
  app.openapi(update, async (c) =>
    c.json(await deps.schedules.update(c.get('tenantId'), c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(remove, async (c) => {
    await deps.schedules.delete(c.get('tenantId'), c.req.valid('param').id);
    return c.body(null, 204);
  });
}
