/**
 * Re-ingesting a restricted document as public with new text: the plan deletes the chunks whose
 * text changed instead of relabelling them, so the old restricted text is never served as
 * public, neither while the new text is embedded nor after that embedding failed for good (an
 * outside audit: a public rag-query cited the old memo).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const MODEL = 'openai:text-embedding-3-small';

describe('re-ingest widening the access level', () => {
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
    api = client(stack.url, (await stack.tenant('acl')).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    await fake?.close();
  });

  it('old restricted text is never served as public while/after a re-ingest as public', async () => {
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
    expect.soft(rows.filter((r) => r.text === secret && r.access_level === 'public')).toEqual([]);

    const q = await api.submit({ type: 'rag-query', input: { collection: 'kb', question: 'What is the CEO salary?' } });
    const answered = await api.waitFor(q.body.id);
    expect(answered.status, JSON.stringify(answered.error)).toBe('completed');
    const snippets = answered.result.citations.map((c: { snippet: string }) => c.snippet).join(' | ');
    expect(snippets).not.toContain('nine million');
  }, 120_000);
});
