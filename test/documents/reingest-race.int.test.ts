/**
 * Two ingests of one document: the one planned last wins. An older ingest whose embed batch
 * lands later (it was slow, or retried after a provider error) writes nothing over the newer
 * version: neither its text nor its access level. A plan's row write, chunk deletes and
 * relabels are one transaction, so two plans never interleave; and a re-ingest deletes the
 * chunks whose text changed rather than relabel them, so old text never shows under a wider
 * access level (outside audits: a public rag-query cited a restricted memo's old text).
 */

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { upsertDocument } from '@spool/core/documents/store';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const MODEL = 'openai:text-embedding-3-small';

describe('documents: re-ingest races', () => {
  let stack: Stack;
  let fake: FakeOpenAI;
  let api: ReturnType<typeof client>;

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
    api = client(stack.url, (await stack.tenant('race')).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    await fake?.close();
  });

  it('a slow older ingest does not overwrite a newer version of the same document', async () => {
    const v1 = 'Version one says the sky is green.';
    const v2 = 'Version two says the sky is blue.';
    // the first embedding request (v1's batch) is slow; the rest answer at once
    fake.next({ latencyMs: 2_000 });
    const j1 = await api.submit({
      type: 'ingest',
      input: { collection: 'kb', model: MODEL, documents: [{ id: 'sky', text: v1 }] },
    });
    expect(j1.status).toBe(202);
    const deadline = Date.now() + 10_000;
    while (fake.count('embeddings') < 1 && Date.now() < deadline) await sleep(20);
    const j2 = await api.submit({ type: 'ingest', input: { collection: 'kb', documents: [{ id: 'sky', text: v2 }] } });
    const done2 = await api.waitFor(j2.body.id);
    expect(done2.status, JSON.stringify(done2.error)).toBe('completed');
    const done1 = await api.waitFor(j1.body.id);
    expect(done1.status, JSON.stringify(done1.error)).toBe('completed');

    const doc = await api.call('GET', '/v1/documents/sky');
    const rows = await stack.database.db.query<{ text: string }>(
      sql`SELECT text FROM chunks WHERE document_id = 'sky' ORDER BY chunk_index`,
    );
    // j2 finished after j1 started (and planned after it): v2 is the current version
    expect(doc.body.contentHash).toBe(createHash('sha256').update(v2).digest('hex'));
    expect(rows.map((r) => r.text)).toEqual([v2]);
  }, 60_000);

  it('an older ingest retried after a newer one does not make a restricted document public again', async () => {
    fake.reset();
    const text = 'The merger with Initech closes in March. Layoffs follow in April.';
    // v1: public; its embedding call fails (503) on attempt 1, and the job is retried with backoff.
    fake.always({ status: 503 });
    const j1 = await api.submit({
      type: 'ingest',
      input: { collection: 'acl', model: MODEL, documents: [{ id: 'merger', text, accessLevel: 'public' }] },
    });
    expect(j1.status).toBe(202);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const j = await api.get(j1.body.id);
      if (j.body.attempts >= 1 && j.body.status !== 'running') break;
      await sleep(20);
    }
    fake.always(undefined);
    // The owner marks the document restricted (same text): it completes while j1 waits for its retry.
    const j2 = await api.submit({
      type: 'ingest',
      input: { collection: 'acl', documents: [{ id: 'merger', text, accessLevel: 'restricted' }] },
    });
    const done2 = await api.waitFor(j2.body.id);
    expect(done2.status, JSON.stringify(done2.error)).toBe('completed');
    const done1 = await api.waitFor(j1.body.id, undefined, 60_000);
    expect(done1.status, JSON.stringify(done1.error)).toBe('completed');
    expect(done1.attempts).toBeGreaterThan(1);

    const doc = await api.call('GET', '/v1/documents/merger');
    expect(doc.body.accessLevel).toBe('restricted');
    const q = await api.submit({ type: 'rag-query', input: { collection: 'acl', question: 'When does the merger close?' } });
    const answered = await api.waitFor(q.body.id);
    expect(answered.status, JSON.stringify(answered.error)).toBe('completed');
    // a public query must not see the restricted document
    expect(answered.result.citations).toEqual([]);
  }, 90_000);

  it('a restricted document re-ingested as public with new text whose embedding fails: its old text is never served as public', async () => {
    const secret = 'The CEO salary is nine million dollars.';
    const v1 = await api.submit({
      type: 'ingest',
      input: { collection: 'kb', model: MODEL, documents: [{ id: 'memo', text: secret, accessLevel: 'restricted' }] },
    });
    expect((await api.waitFor(v1.body.id)).status).toBe('completed');

    // The owner publishes a redacted version; its embedding fails for good (400).
    fake.always({ status: 400, code: 'invalid_request' });
    const v2 = await api.submit({
      type: 'ingest',
      input: { collection: 'kb', documents: [{ id: 'memo', text: 'This memo was withdrawn.', accessLevel: 'public' }] },
    });
    const failed = await api.waitFor(v2.body.id, undefined, 60_000);
    expect(failed.status).toBe('failed');
    fake.always(undefined);

    const rows = await stack.database.db.query<{ text: string; access_level: string }>(
      sql`SELECT text, access_level FROM chunks WHERE document_id = 'memo'`,
    );
    // The restricted text must not be labelled public.
    expect(rows.filter((r) => r.text === secret && r.access_level === 'public')).toEqual([]);

    const q = await api.submit({ type: 'rag-query', input: { collection: 'kb', question: 'What is the CEO salary?' } });
    const answered = await api.waitFor(q.body.id);
    expect(answered.status, JSON.stringify(answered.error)).toBe('completed');
    const snippets = answered.result.citations.map((c: { snippet: string }) => c.snippet).join(' | ');
    expect(snippets).not.toContain('nine million');
  }, 120_000);

  it('an older plan held open after its row write: the newer plan waits for it, and its chunks and access level stand', async () => {
    const long = Array.from({ length: 12 }, (_, i) => `Sentence number ${i} talks about the quarterly merger plan.`).join(' ');
    const t = await stack.tenant('plan-race');
    const tenantId = t.id;
    const api = client(stack.url, t.apiKey);
    const res = await api.submit({
      type: 'ingest',
      input: { collection: 'kb', chunkTokens: 40, overlapTokens: 0, documents: [{ id: 'd', text: long }] },
    });
    const first = await api.waitFor(res.body.id);
    expect(first.status, JSON.stringify(first.error)).toBe('completed');
    const n = first.result.chunks as number;
    expect(n).toBeGreaterThan(2);
    const db = stack.database.db;
    const stored = () =>
      db.query<{ chunk_index: number; access_level: string; content_hash: string }>(
        sql`SELECT chunk_index, access_level, content_hash FROM chunks WHERE tenant_id = ${tenantId} AND document_id = 'd'
          ORDER BY chunk_index`,
      );
    const hashes = (await stored()).map((r) => r.content_hash);

    // An older plan (public, one chunk) stops in its transaction right after its row write.
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let rowWritten!: () => void;
    const written = new Promise<void>((r) => {
      rowWritten = r;
    });
    const gated = {
      ...db,
      orm: new Proxy(db.orm, {
        get: (target, prop, receiver) =>
          prop !== 'transaction'
            ? Reflect.get(target, prop, receiver)
            : (work: (tx: object) => Promise<unknown>) =>
                target.transaction((tx) =>
                  work(
                    new Proxy(tx, {
                      get: (t, p, r) =>
                        p !== 'execute'
                          ? Reflect.get(t, p, r)
                          : async (statement: never) => {
                              if (++calls === 2) {
                                rowWritten();
                                await gate;
                              }
                              return t.execute(statement);
                            },
                    }),
                  ),
                ),
      }),
    } as typeof db;
    const plan = (d: { db: typeof db; accessLevel: string; chunkHashes: string[]; ingestJobId: string }) =>
      upsertDocument(d.db, {
        tenantId,
        id: 'd',
        collection: 'kb',
        title: null,
        contentHash: d.ingestJobId,
        metadata: null,
        accessLevel: d.accessLevel,
        chunkHashes: d.chunkHashes,
        model: 'local',
        tokens: 5,
        ingestJobId: d.ingestJobId,
      });
    const older = plan({ db: gated, accessLevel: 'public', chunkHashes: [hashes[0]!], ingestJobId: 'older' });
    await written;

    // A newer plan of the whole text, restricted, starts meanwhile: it waits for the older one.
    let newerDone = false;
    const newer = plan({ db, accessLevel: 'restricted', chunkHashes: hashes, ingestJobId: 'newer' }).finally(() => {
      newerDone = true;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(newerDone).toBe(false);
    release();
    expect(await older).toEqual([0]);
    const kept = await newer;

    // The newer plan owns the document, and what it kept is what is stored, under its label.
    // Before, the older plan's delete and relabel landed after it: one public chunk was left.
    const doc = await api.call('GET', '/v1/documents/d');
    expect(doc.body).toMatchObject({ accessLevel: 'restricted', chunks: n });
    const rows = await stored();
    expect(rows.map((r) => r.chunk_index)).toEqual([...kept].sort((x, y) => x - y));
    expect(rows.map((r) => r.access_level)).toEqual(kept.map(() => 'restricted'));
  }, 60_000);
});
