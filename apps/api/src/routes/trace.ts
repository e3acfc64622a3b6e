/** GET /v1/jobs/:id/trace: the job's model calls, one row per HTTP attempt, cache hit or skipped model. */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { jobTrace } from '@spool/core/model-calls';
import { roundUsd } from '@spool/core/providers/cost';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import { errorResponses, JobIdParam, json } from '../schemas.ts';

const TraceCall = z
  .object({
    id: z.string(),
    step: z.string().nullable(),
    attempt: z.number().int().describe('The job attempt that made the call'),
    callTry: z.number().int().describe('The HTTP try within the call: 1, then 2 for the first retry, …'),
    kind: z.enum(['chat', 'embed']),
    provider: z.string(),
    model: z.string(),
    promptVersion: z.string().nullable(),
    status: z.enum(['ok', 'error', 'cached', 'skipped']).describe('skipped: the model’s circuit breaker was open'),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    costUsd: z.number(),
    latencyMs: z.number().int(),
    cacheLayer: z.enum(['exact', 'semantic']).nullable(),
    fallbackFrom: z.string().nullable().describe('The model of the chain this call fell back from'),
    errorClass: z.string().nullable(),
    errorMessage: z.string().nullable(),
    redacted: z.boolean(),
    injectionSuspected: z.boolean(),
    retrieval: z
      .object({
        query: z.string(),
        collection: z.string(),
        embeddingModel: z.string(),
        topK: z.number().int(),
        filters: z.object({ accessLevels: z.array(z.string()), documentIds: z.array(z.string()).nullable() }),
        rerank: z.boolean(),
        candidates: z.number().int(),
        searchMs: z.number().describe('Milliseconds the vector search took'),
        chunks: z.array(
          z.object({ chunkId: z.string(), documentId: z.string(), score: z.number(), rerankScore: z.number().optional() }),
        ),
      })
      .nullable()
      .describe('On the embedding call of a retrieval (rag-query): query, filters, chunks retrieved and their scores'),
    createdAt: z.string(),
  })
  .openapi('TraceCall');

const Trace = z
  .object({
    jobId: z.string(),
    data: z.array(TraceCall),
    totals: z.object({ calls: z.number().int(), inputTokens: z.number(), outputTokens: z.number(), costUsd: z.number() }),
  })
  .openapi('Trace');

const route = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/trace',
  summary: 'The job’s model calls',
  description:
    'Provider, model, prompt version, tokens, cost, latency, cache layer, fallback and error class of every call, in order.',
  request: { params: JobIdParam },
  responses: { 200: json(Trace, 'The trace'), ...errorResponses },
});

export function traceRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.use('/v1/jobs/:id/trace', requireScope(deps, 'jobs:read'));
  app.openapi(route, async (c) => {
    const { id } = c.req.valid('param');
    const calls = await jobTrace(deps.db, c.get('tenantId'), id);
    if (!calls) throw new SpoolError('not_found', `job ${id} not found`, { status: 404 });
    const totals = calls.reduce(
      (t, r) => ({
        calls: t.calls + 1,
        inputTokens: t.inputTokens + r.inputTokens,
        outputTokens: t.outputTokens + r.outputTokens,
        costUsd: roundUsd(t.costUsd + r.costUsd),
      }),
      { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    );
    return c.json({ jobId: id, data: calls as z.infer<typeof TraceCall>[], totals }, 200);
  });
}
