/**
 * The documents API on embedded PGlite (pgvector): list by collection in keyset pages, get,
 * delete with its chunks; tenant isolation; a deleted document is no longer cited.
 * (The PostgreSQL-without-pgvector answers are in summarize.int.test.ts.)
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Client = ReturnType<typeof client>;

describe('documents API on PGlite', () => {
  let stack: Stack;
  let a: Client;
  let b: Client;

  const ingest = async (c: Client, input: unknown) => {
    const res = await c.submit({ type: 'ingest', input });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const job = await c.waitFor(res.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    return job;
  };

  beforeAll(async () => {
    stack = await startStack({ database: await freshPglite() });
    a = client(stack.url, (await stack.tenant('tenant-a')).apiKey);
    b = client(stack.url, (await stack.tenant('tenant-b')).apiKey);
    // One ingest per document: distinct created_at, so "newest first" has one answer.
    for (const id of ['alpha', 'beta', 'gamma']) {
      await ingest(a, {
        collection: 'notes',
        documents: [{ id, title: `Note ${id}`, text: `The ${id} note talks about ${id} particles.` }],
      });
    }
    await ingest(a, {
      collection: 'manuals',
      documents: [
        {
          id: 'pump',
          title: 'Pump manual',
          accessLevel: 'staff',
          metadata: { version: 3 },
          text: Array.from({ length: 30 }, (_, i) => `Step ${i + 1}: check the pump valve number ${i}.`).join(' '),
        },
      ],
      chunkTokens: 60,
      overlapTokens: 10,
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('lists the tenant’s documents newest first, by collection, in keyset pages', async () => {
    const all = await a.call('GET', '/v1/documents?limit=100');
    expect(all.status).toBe(200);
    expect(all.body.data.map((d: { id: string }) => d.id)).toEqual(['pump', 'gamma', 'beta', 'alpha']);
    expect(all.body.nextCursor).toBeNull();
    // The README's own form, every value empty: not given (an empty collection was a 422).
    const empty = await a.call('GET', '/v1/documents?collection=&limit=&cursor=');
    expect(empty.status).toBe(200);
    expect(empty.body.data).toHaveLength(4);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await a.call('GET', `/v1/documents?collection=notes&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((d: { id: string; collection: string }) => `${d.collection}/${d.id}`));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['notes/gamma', 'notes/beta', 'notes/alpha']);
    expect(pages).toBe(2);

    expect((await a.call('GET', '/v1/documents?collection=nothing')).body).toEqual({ data: [], nextCursor: null });
  });

  it('gets a document with its chunk count, tokens, access level and embedding model', async () => {
    const res = await a.call('GET', '/v1/documents/pump');
    expect(res.status).toBe(200);
    const chunks = await stack.database.db.query<{ n: number | string; tokens: number | string }>(
      sql`SELECT count(*) AS n, sum(token_count) AS tokens FROM chunks WHERE document_id = 'pump'`,
    );
    expect(res.body).toMatchObject({
      id: 'pump',
      collection: 'manuals',
      title: 'Pump manual',
      accessLevel: 'staff',
      metadata: { version: 3 },
      chunks: Number(chunks[0]!.n),
      embeddedChunks: Number(chunks[0]!.n),
      tokens: Number(chunks[0]!.tokens),
      embeddingModels: ['local'],
    });
    expect(res.body.chunks).toBeGreaterThan(3);
    expect(res.body.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();
  });

  it('keeps tenants apart: B cannot list, get or delete A’s documents', async () => {
    expect((await b.call('GET', '/v1/documents')).body).toEqual({ data: [], nextCursor: null });
    const get = await b.call('GET', '/v1/documents/alpha');
    expect(get.status).toBe(404);
    expect(get.body.error.code).toBe('not_found');
    const del = await b.call('DELETE', '/v1/documents/alpha');
    expect(del.status).toBe(404);
    expect((await a.call('GET', '/v1/documents/alpha')).status).toBe(200);
  });

  it('deletes a document and its chunks: rag-query no longer cites it', async () => {
    const ask = async () => {
      const res = await a.submit({
        type: 'rag-query',
        input: { collection: 'notes', question: 'What about beta particles?', topK: 5 },
      });
      const job = await a.waitFor(res.body.id);
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      return job.result.citations.map((c: { documentId: string }) => c.documentId) as string[];
    };
    expect((await ask())[0]).toBe('beta');

    const del = await a.call('DELETE', '/v1/documents/beta');
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: 'beta', deleted: true, chunks: 1 });
    const left = await stack.database.db.query(sql`SELECT 1 FROM chunks WHERE document_id = 'beta'`);
    expect(left).toEqual([]);
    expect((await a.call('GET', '/v1/documents/beta')).status).toBe(404);
    expect((await a.call('DELETE', '/v1/documents/beta')).status).toBe(404);

    const after = await ask();
    expect(after).not.toContain('beta');
    expect(after.length).toBeGreaterThan(0);
  }, 60_000);

  it('is described in the OpenAPI document; summarize is listed at /v1/job-types', async () => {
    const doc = (await (await fetch(`${stack.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/v1/documents'] ?? {})).toContain('get');
    expect(Object.keys(doc.paths['/v1/documents/{id}'] ?? {}).sort()).toEqual(['delete', 'get']);
    const types = await a.call('GET', '/v1/job-types');
    const summarize = types.body.data.find((t: { name: string }) => t.name === 'summarize');
    expect(Object.keys(summarize.input.properties)).toEqual(expect.arrayContaining(['text', 'documentId', 'maxWords', 'model']));
    expect(Object.keys(summarize.output.properties)).toEqual(expect.arrayContaining(['summary', 'chunks', 'model', 'usage']));
  });

  it('answers bad requests with clear 4xx', async () => {
    const cursorAt = (time: string) => Buffer.from(JSON.stringify([time, 'doc'])).toString('base64url');
    const cases: [string, string, number, string][] = [
      ['GET', '/v1/documents?limit=0', 422, 'validation_failed'],
      ['GET', '/v1/documents?limit=1000', 422, 'validation_failed'],
      ['GET', '/v1/documents?cursor=not-a-cursor', 422, 'invalid_cursor'],
      ['GET', `/v1/documents?cursor=${Buffer.from('["2020",""]').toString('base64url')}`, 422, 'invalid_cursor'],
      // A date JavaScript reads (as March 2nd) and PostgreSQL refuses.
      ['GET', `/v1/documents?cursor=${cursorAt('2026-02-30T10:00:00.123456+00:00')}`, 422, 'invalid_cursor'],
      ['GET', `/v1/documents?cursor=${cursorAt('2026-02-28T24:00:00+00:00')}`, 422, 'invalid_cursor'],
      ['GET', `/v1/documents?cursor=${cursorAt('2026-02-28T10:00:00.123456+00:00')}`, 200, ''],
      ['GET', `/v1/documents/${'x'.repeat(101)}`, 422, 'validation_failed'],
      ['GET', '/v1/documents/nope', 404, 'not_found'],
    ];
    for (const [method, path, status, code] of cases) {
      const res = await a.call(method, path);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
      if (status !== 200) expect(res.body.error.code).toBe(code);
    }
    const anonymous = await fetch(`${stack.url}/v1/documents`);
    expect(anonymous.status).toBe(401);
    // An ingest of nothing, or one that would cut a document into a chunk per sentence
    // fragment (it completed with 0 chunks; 1 MB made 340,000 chunks), is refused at submit.
    const ingest = (input: unknown) => a.call('POST', '/v1/jobs', { type: 'ingest', input });
    const blank = await ingest({ documents: [{ text: ' \n\t ' }] });
    expect(blank.status).toBe(422);
    expect(blank.body.error.details).toEqual([
      { path: ['input', 'documents', 0, 'text'], message: expect.stringMatching(/only whitespace/) },
    ]);
    const overlap = await ingest({ documents: [{ text: 'Some text.' }], chunkTokens: 32, overlapTokens: 31 });
    expect(overlap.status).toBe(422);
    expect(overlap.body.error.details).toEqual([
      { path: ['input', 'overlapTokens'], message: 'overlapTokens is at most half of chunkTokens' },
    ]);
    expect((await ingest({ documents: [{ text: 'Some text.' }], chunkTokens: 32, overlapTokens: 16 })).status).toBe(202);
  });
});
