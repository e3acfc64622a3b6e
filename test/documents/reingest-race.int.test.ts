/**
 * Two ingests of one document: the one planned last wins. An older ingest whose embed batch
 * lands later (it was slow, or retried after a provider error) writes nothing over the newer
 * version: neither its text nor its access level.
 */

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
});
