/**
 * embed-refresh and rag-query's retrieval trace: vector tables on embedded PGlite, the job
 * path on the real Redis, the new embedding model on the fake OpenAI-compatible server (so
 * every text sent for embedding is counted), the old one `local`.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { upsertChunks } from '@spool/core/documents/store';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const NEW_MODEL = 'openai:text-embedding-3-small';
const corpus = [
  ['etna', 'Mount Etna in Sicily is an active volcano with frequent lava flows.'],
  ['vesuvius', 'Vesuvius buried Pompeii under ash in the year 79.'],
  ['bees', 'Honey bees dance to tell the hive where the flowers are.'],
  ['ants', 'Leafcutter ants farm a fungus on the leaves they carry home.'],
  ['trains', 'The Shinkansen connects Tokyo and Osaka in under three hours.'],
  ['ships', 'Container ships carry most of the goods traded between continents.'],
  ['tea', 'Green tea leaves are steamed to stop them from oxidising.'],
].map(([id, text]) => ({ id: id!, text: text! }));

describe('embed-refresh on PGlite', () => {
  let stack: Stack;
  let fake: FakeOpenAI;
  let api: ReturnType<typeof client>;
  let tenantId: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    stack = await startStack({
      database: await freshPglite(),
      env: {
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        SPOOL_CHAT_MODELS: 'local',
        SPOOL_EMBED_MODEL: 'local',
        SPOOL_MODEL_RETRY_BASE_MS: '20',
        SPOOL_MODEL_RETRY_MAX_MS: '100',
      },
    });
    const tenant = await stack.tenant('refresh');
    tenantId = tenant.id;
    api = client(stack.url, tenant.apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    await fake?.close();
  });

  const submit = async (type: string, input: unknown) => {
    const res = await api.submit({ type, input });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return api.waitFor(res.body.id);
  };
  const run = async (type: string, input: unknown) => {
    const job = await submit(type, input);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    return job;
  };
  const q = <T>(statement: ReturnType<typeof sql>) => stack.database.db.query<T>(statement);
  const chunkModels = async (collection: string) =>
    (
      await q<{ embedding_model: string; n: number | string }>(sql`
        SELECT embedding_model, count(*) AS n FROM chunks WHERE tenant_id = ${tenantId} AND collection = ${collection}
        GROUP BY 1 ORDER BY 1`)
    ).map((r) => [r.embedding_model, Number(r.n)]);
  const retrieveCall = async (jobId: string) => {
    const trace = await api.call('GET', `/v1/jobs/${jobId}/trace`);
    expect(trace.status).toBe(200);
    const calls = trace.body.data.filter((c: any) => c.step === 'retrieve' && c.kind === 'embed' && c.status === 'ok');
    expect(calls).toHaveLength(1);
    return calls[0];
  };

  it('interrupted and resumed, embeds each chunk once and queries one model before and after the switch', async () => {
    await run('ingest', { collection: 'kb', documents: corpus });
    expect(await chunkModels('kb')).toEqual([['local', 7]]);

    // Batches of 2: the third embedding call fails for good (400), so the job fails after two batches.
    fake.reset();
    fake.next({}, {}, { status: 400, code: 'invalid_request' });
    const failed = await submit('embed-refresh', { collection: 'kb', model: NEW_MODEL, batchSize: 2 });
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['start', 'completed', 1],
      ['stage-1', 'completed', 1],
      ['stage-2', 'completed', 1],
      ['stage-3', 'failed', 1],
    ]);

    // Mid-refresh: four chunks have a staged new vector, every chunk still serves the old model.
    expect(await chunkModels('kb')).toEqual([['local', 7]]);
    const staged = await q<{ n: number | string }>(sql`SELECT count(*) AS n FROM chunk_embeddings WHERE model = ${NEW_MODEL}`);
    expect(Number(staged[0]!.n)).toBe(4);
    const during = await run('rag-query', { collection: 'kb', question: 'Which volcano is in Sicily?', topK: 3 });
    expect(during.result.citations[0].documentId).toBe('etna');
    const duringCall = await retrieveCall(during.id);
    expect([duringCall.provider, duringCall.model, duringCall.retrieval.embeddingModel]).toEqual(['local', 'local', 'local']);
    expect(fake.count('embeddings')).toBe(3); // the query used local: nothing went to the new model

    // A document ingested during the refresh is written with the active (old) model and refreshed too.
    await run('ingest', { collection: 'kb', documents: [{ id: 'late', text: 'Late news: the volcano slept all winter.' }] });
    expect(await chunkModels('kb')).toEqual([['local', 8]]);

    const retried = await api.call('POST', `/v1/jobs/${failed.id}/retry`);
    expect(retried.status).toBe(202);
    const done = await api.waitFor(failed.id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(done.result).toEqual({ reembedded: 8, collection: 'kb', model: NEW_MODEL, previousModel: 'local' });
    // Completed batches were not run again; the failed one ran twice; the cursor went on from there.
    expect(done.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['start', 'completed', 1],
      ['stage-1', 'completed', 1],
      ['stage-2', 'completed', 1],
      ['stage-3', 'completed', 2],
      ['stage-4', 'completed', 1],
      ['stage-5', 'completed', 1],
      ['activate', 'completed', 1],
      ['sweep-1', 'completed', 1],
    ]);

    // Every chunk text was embedded by a successful call exactly once; only the failed batch was sent twice.
    const calls = fake.calls.filter((c) => c.path.endsWith('/embeddings'));
    expect(calls).toHaveLength(5); // 3 before the retry, then stages 3 and 4 (stage 5 found nothing)
    expect(calls.every((c) => c.body.model === 'text-embedding-3-small')).toBe(true);
    expect(calls[3]!.body.input).toEqual(calls[2]!.body.input);
    const embedded = calls.filter((_, i) => i !== 2).flatMap((c) => c.body.input as string[]);
    const texts = (await q<{ text: string }>(sql`SELECT text FROM chunks WHERE collection = 'kb'`)).map((r) => r.text);
    expect([...embedded].sort()).toEqual([...texts].sort());
    const okCalls = await q<{ n: number | string }>(
      sql`SELECT count(*) AS n FROM model_calls WHERE job_id = ${failed.id} AND kind = 'embed' AND status = 'ok'`,
    );
    expect(Number(okCalls[0]!.n)).toBe(4);

    // Switched as a whole: every chunk on the new model, the staging empty, the collection on the new model.
    expect(await chunkModels('kb')).toEqual([[NEW_MODEL, 8]]);
    const left = await q<{ n: number | string }>(sql`SELECT count(*) AS n FROM chunk_embeddings`);
    expect(Number(left[0]!.n)).toBe(0);
    const dims = await q<{ d: number }>(sql`SELECT DISTINCT embedding_dims AS d FROM chunks WHERE collection = 'kb'`);
    expect(dims).toEqual([{ d: 3 }]); // the fake's vectors, not local's 384

    const after = await run('rag-query', { collection: 'kb', question: 'Which volcano is in Sicily?', topK: 3 });
    expect(after.result.citations).toHaveLength(3);
    const afterCall = await retrieveCall(after.id);
    expect([afterCall.provider, afterCall.model, afterCall.retrieval.embeddingModel]).toEqual([
      'openai',
      'text-embedding-3-small',
      NEW_MODEL,
    ]);

    // Asking for the old model now is refused rather than compared with the new vectors.
    const stale = await submit('rag-query', { collection: 'kb', question: 'volcano?', embedModel: 'local' });
    expect(stale.status).toBe('failed');
    expect(stale.error.code).toBe('embedding_model_mismatch');
    const mixed = await submit('ingest', { collection: 'kb', model: 'local', documents: [{ text: 'more' }] });
    expect(mixed.status).toBe('failed');
    expect(mixed.error).toMatchObject({ code: 'embedding_model_mismatch', retryable: false });
    expect(await chunkModels('kb')).toEqual([[NEW_MODEL, 8]]);
  }, 90_000);

  it('a batch embedded with a model the collection no longer uses is not written', async () => {
    const ingest = await run('ingest', { collection: 'guard', documents: [{ id: 'g', text: 'Guarded text.' }] });
    const row = {
      ingestJobId: ingest.id,
      tenantId,
      collection: 'guard',
      documentId: 'g',
      index: 1,
      text: 'written with the wrong model',
      tokens: 5,
      hash: 'h',
      metadata: null,
      accessLevel: 'public',
      embedding: [1, 2, 3],
    };
    expect(await upsertChunks(stack.database.db, [{ ...row, model: NEW_MODEL }])).toBe(false);
    expect(await chunkModels('guard')).toEqual([['local', 1]]);
    expect(await upsertChunks(stack.database.db, [{ ...row, model: 'local', embedding: new Array(384).fill(0.1) }])).toBe(true);
    expect(await chunkModels('guard')).toEqual([['local', 2]]);
  }, 30_000);

  it('a batch for a document deleted during its ingest skips that document and fails nothing', async () => {
    const ingest = await run('ingest', {
      collection: 'gone',
      documents: [
        { id: 'stays', text: 'This one stays.' },
        { id: 'deleted', text: 'This one is deleted.' },
      ],
    });
    expect((await api.call('DELETE', '/v1/documents/deleted')).status).toBe(200);
    const row = (documentId: string, index: number) => ({
      ingestJobId: ingest.id,
      tenantId,
      collection: 'gone',
      documentId,
      index,
      text: `late chunk of ${documentId}`,
      tokens: 4,
      hash: `h${index}`,
      metadata: null,
      accessLevel: 'public',
      model: 'local',
      embedding: new Array(384).fill(0.2),
    });
    // What a later embed step writes once the delete has landed: no foreign-key error, the
    // document stays deleted, and the other document's chunk is written.
    expect(await upsertChunks(stack.database.db, [row('stays', 7), row('deleted', 7)])).toBe(true);
    expect((await api.call('GET', '/v1/documents/deleted')).status).toBe(404);
    const chunks = await stack.database.db.query<{ document_id: string }>(
      sql`SELECT document_id FROM chunks WHERE tenant_id = ${tenantId} AND collection = 'gone' AND chunk_index = 7`,
    );
    expect(chunks.map((c) => c.document_id)).toEqual(['stays']);
  }, 30_000);

  it('an unknown collection is refused with not_found; the type and its schema are listed', async () => {
    const types = await api.call('GET', '/v1/job-types');
    const type = types.body.data.find((t: any) => t.name === 'embed-refresh');
    expect(type.input.required).toEqual(['model']);
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    expect(doc.components.schemas.EmbedRefreshInput.required).toEqual(['model']);
    const job = await submit('embed-refresh', { collection: 'nothing-here', model: NEW_MODEL });
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'not_found', retryable: false });

    // A collection whose documents were all deleted keeps its row and model, and is refused too.
    await run('ingest', { collection: 'emptied', documents: [{ id: 'only', text: 'The only document.' }] });
    expect((await api.call('DELETE', '/v1/documents/only')).status).toBe(200);
    const emptied = await submit('embed-refresh', { collection: 'emptied', model: NEW_MODEL });
    expect(emptied.error).toMatchObject({ code: 'not_found', retryable: false });
    const [collection] = await q<{ embedding_model: string; refresh_model: string | null }>(
      sql`SELECT embedding_model, refresh_model FROM collections WHERE tenant_id = ${tenantId} AND name = 'emptied'`,
    );
    expect(collection).toEqual({ embedding_model: 'local', refresh_model: null });
  }, 30_000);

  it('records the retrieval on the trace: query, filters, chunk ids and scores, and the rerank', async () => {
    await run('ingest', { collection: 'trace', documents: corpus });
    const question = 'Which volcano buried Pompeii under ash?';
    const plain = await run('rag-query', {
      collection: 'trace',
      question,
      topK: 2,
      filter: { accessLevels: ['public', 'internal'], documentIds: ['etna', 'vesuvius', 'bees', 'ants'] },
    });
    const call = await retrieveCall(plain.id);
    expect(call.retrieval).toEqual({
      query: question,
      collection: 'trace',
      embeddingModel: 'local',
      topK: 2,
      filters: { accessLevels: ['public', 'internal'], documentIds: ['etna', 'vesuvius', 'bees', 'ants'] },
      rerank: false,
      candidates: 2,
      searchMs: expect.any(Number),
      chunks: plain.result.citations.map((c: any) => ({ chunkId: c.chunkId, documentId: c.documentId, score: c.score })),
    });
    expect(call.retrieval.searchMs).toBeGreaterThan(0);
    expect(call.retrieval.chunks.every((c: any) => ['etna', 'vesuvius', 'bees', 'ants'].includes(c.documentId))).toBe(true);
    expect(call.retrieval.chunks[0].score).toBeGreaterThanOrEqual(call.retrieval.chunks[1].score);

    const reranked = await run('rag-query', { collection: 'trace', question, topK: 2, rerank: true });
    const rc = await retrieveCall(reranked.id);
    expect(rc.retrieval).toMatchObject({ rerank: true, candidates: 7, filters: { accessLevels: ['public'], documentIds: null } });
    const cited = reranked.result.citations;
    expect(cited).toHaveLength(2);
    expect(cited[0].documentId).toBe('vesuvius'); // shares "buried", "pompeii", "ash"
    expect(cited[0].rerankScore).toBeGreaterThan(cited[1].rerankScore);
    expect(rc.retrieval.chunks).toEqual(
      cited.map((c: any) => ({ chunkId: c.chunkId, documentId: c.documentId, score: c.score, rerankScore: c.rerankScore })),
    );

    // Nothing matches the filter: the retrieval is still recorded, with no chunks.
    const none = await run('rag-query', { collection: 'trace', question, filter: { documentIds: ['no-such-doc'] } });
    expect(none.result.citations).toEqual([]);
    expect((await retrieveCall(none.id)).retrieval).toMatchObject({ candidates: 0, chunks: [] });
  }, 60_000);
  it('a document deleted while its chunks are being embedded for the refresh fails nothing and embeds nothing twice', async () => {
    const docs = ['alpha', 'beta', 'gamma', 'delta'].map((id) => ({ id, text: `The ${id} document is about ${id} rays.` }));
    await run('ingest', { collection: 'del', documents: docs });
    fake.reset();
    fake.next({ latencyMs: 1_500 }); // the first stage batch is slow
    const res = await api.submit({ type: 'embed-refresh', input: { collection: 'del', model: NEW_MODEL, batchSize: 10 } });
    expect(res.status).toBe(202);
    const deadline = Date.now() + 10_000;
    while (fake.count('embeddings') < 1 && Date.now() < deadline) await sleep(20);
    expect(fake.count('embeddings')).toBe(1);
    expect((await api.call('DELETE', '/v1/documents/beta')).status).toBe(200);

    // Its staging row broke the foreign key: the attempt failed and the batch was embedded again.
    const done = await api.waitFor(res.body.id, undefined, 60_000);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    const stage1 = done.steps.find((s: { name: string }) => s.name === 'stage-1');
    expect({ attempts: done.attempts, stage1Runs: stage1.runs, embedCalls: fake.count('embeddings') }).toEqual({
      attempts: 1,
      stage1Runs: 1,
      embedCalls: 1,
    });
    expect(await chunkModels('del')).toEqual([[NEW_MODEL, 3]]);
  }, 90_000);

  it('a collection that holds no chunks takes the model an ingest names (it was stuck: refresh had nothing to refresh)', async () => {
    // A chat model named as the embedding model: the provider refuses it, and nothing is stored.
    fake.always({ status: 400, code: 'invalid_request' });
    const bad = await submit('ingest', {
      collection: 'bound',
      model: 'openai:gpt-4o-mini',
      documents: [{ id: 'a', text: 'Etna.' }],
    });
    expect(bad.status).toBe('failed');
    fake.always(undefined);
    await run('ingest', { collection: 'bound', model: 'local', documents: [{ id: 'a', text: 'Mount Etna is a volcano.' }] });
    expect(await chunkModels('bound')).toEqual([['local', 1]]);
    // Emptied by deletes, the same.
    expect((await api.call('DELETE', '/v1/documents/a')).status).toBe(200);
    await run('ingest', { collection: 'bound', model: NEW_MODEL, documents: [{ id: 'b', text: 'A new start.' }] });
    expect(await chunkModels('bound')).toEqual([[NEW_MODEL, 1]]);
    // With chunks stored, another model is still refused.
    const mixed = await submit('ingest', { collection: 'bound', model: 'local', documents: [{ text: 'more' }] });
    expect(mixed.error).toMatchObject({ code: 'embedding_model_mismatch' });

    // Empty, but its first ingest still embedding: refused too, or that ingest's chunks would
    // land on a model it did not name (it retried its batch with the new one).
    fake.next({ latencyMs: 2_000 });
    const first = await api.submit({
      type: 'ingest',
      input: { collection: 'fresh', model: NEW_MODEL, documents: [{ id: 'a', text: 'Alpha text here.' }] },
    });
    const deadline = Date.now() + 10_000;
    while (fake.count('embeddings') < 1 && Date.now() < deadline) await sleep(20);
    const other = await submit('ingest', { collection: 'fresh', model: 'local', documents: [{ id: 'b', text: 'Beta.' }] });
    expect(other.error).toMatchObject({ code: 'embedding_model_mismatch' });
    expect((await api.waitFor(first.body.id, undefined, 60_000)).status).toBe('completed');
    expect(await chunkModels('fresh')).toEqual([[NEW_MODEL, 1]]);
  }, 90_000);
});
