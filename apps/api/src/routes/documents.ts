/**
 * /v1/documents: the caller's ingested documents — list (by collection, keyset pages), get,
 * delete (with its chunks). Reads take `jobs:read`, delete takes `jobs:write` (the scopes
 * that submit ingest). Where the vector tables are missing: 422 `vectors_unavailable`, the
 * same answer an `ingest` submit gets there.
 */
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { assertVectors, deleteDocument, getDocument, listDocuments } from '@spool/core/documents/store';
import { SpoolError } from '@spool/core/errors';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';
import { ErrorBody, emptyIsAbsent, errorResponses, json, PageLimit } from '../schemas.ts';

const Document = z
  .object({
    id: z.string(),
    collection: z.string(),
    title: z.string().nullable(),
    accessLevel: z.string(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    contentHash: z.string().describe('SHA-256 of the normalized text'),
    chunks: z.number().int().describe('Chunks the document was cut into at its last ingest'),
    embeddedChunks: z.number().int().describe('Chunks stored with an embedding now (fewer while an ingest runs)'),
    tokens: z.number().int(),
    embeddingModels: z.array(z.string()).describe('Embedding models of its stored chunks'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Document');

const DocumentList = z.object({ data: z.array(Document), nextCursor: z.string().nullable() }).openapi('DocumentList');

const DocumentIdParam = z.object({ id: z.string().min(1).max(100) });

const unavailable = { 422: json(ErrorBody, '`vectors_unavailable`: no vector storage here; or a bad query') };

const list = createRoute({
  method: 'get',
  path: '/v1/documents',
  summary: 'List documents, newest first',
  request: {
    query: z.object({
      collection: emptyIsAbsent(z.string().min(1).max(100)),
      limit: PageLimit,
      cursor: z.string().max(400).optional(),
    }),
  },
  responses: {
    200: json(DocumentList, 'A page of documents; pass nextCursor as cursor for the next'),
    ...errorResponses,
    ...unavailable,
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/documents/{id}',
  summary: 'Get a document',
  request: { params: DocumentIdParam },
  responses: { 200: json(Document, 'The document'), ...errorResponses, ...unavailable },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/documents/{id}',
  summary: 'Delete a document and its chunks',
  description: 'Its chunks are gone from retrieval at once. 404 for an unknown id or another tenant’s.',
  request: { params: DocumentIdParam },
  responses: {
    200: json(z.object({ id: z.string(), deleted: z.literal(true), chunks: z.number().int() }), 'Deleted; `chunks` removed'),
    ...errorResponses,
    ...unavailable,
  },
});

const notFound = (id: string) => new SpoolError('not_found', `document ${id} not found`, { status: 404 });

export function documentRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.on('GET', ['/v1/documents', '/v1/documents/*'], requireScope(deps, 'jobs:read'));
  app.on('DELETE', '/v1/documents/*', requireScope(deps, 'jobs:write'));
  // After auth: a caller without a key learns nothing about the deployment.
  app.on(['GET', 'DELETE'], ['/v1/documents', '/v1/documents/*'], async (_c, next) => {
    assertVectors(deps.db);
    await next();
  });

  app.openapi(list, async (c) => c.json(await listDocuments(deps.db, c.get('tenantId'), c.req.valid('query')), 200));

  app.openapi(get, async (c) => {
    const { id } = c.req.valid('param');
    const doc = await getDocument(deps.db, c.get('tenantId'), id);
    if (!doc) throw notFound(id);
    return c.json(doc, 200);
  });

  app.openapi(remove, async (c) => {
    const { id } = c.req.valid('param');
    const out = await deleteDocument(deps.db, c.get('tenantId'), id);
    if (!out) throw notFound(id);
    return c.json({ id, deleted: true as const, chunks: out.chunks }, 200);
  });
}
