/**
 * `rag-query` answers only from what is still there and fits: a retry replays the retrieval of
 * its first attempt, and a document deleted or made `restricted` since was sent to the model and
 * cited; all `topK` chunks went into one call, however large (150k tokens for 24 chunks); with
 * the local provider, sources off the subject got the question back as the answer. Vector tables
 * on embedded PGlite; chat through the fake OpenAI server or the local provider.
 */
import { countChatTokens } from '@spool/core/providers/tokens';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Client = ReturnType<typeof client>;
interface Citation {
  documentId: string;
  chunkId: string;
  score: number;
  snippet: string;
}

const complete = async (c: Client, type: string, input: unknown) => {
  const res = await c.submit({ type, input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const job = await c.waitFor(res.body.id, undefined, 60_000);
  expect(job.status, JSON.stringify(job.error)).toBe('completed');
  return job;
};

describe('rag-query through an OpenAI-compatible chat model', () => {
  let fake: FakeOpenAI;
  let stack: Stack;
  let a: Client;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    stack = await startStack({
      database: await freshPglite(),
      bodyLimitBytes: 8 * 1024 * 1024,
      env: { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini' },
    });
    a = client(stack.url, (await stack.tenant()).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    await fake?.close();
  });

  /** A rag-query whose answer call fails for good (400): its `retrieve` step is stored. */
  const failAtAnswer = async (input: unknown) => {
    fake.next({ status: 400, code: 'invalid_request_error' });
    const res = await a.submit({ type: 'rag-query', input });
    expect(res.status).toBe(202);
    const failed = await a.waitFor(res.body.id);
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`)).toEqual([
      'retrieve:completed',
      'answer:failed',
    ]);
    return res.body.id as string;
  };
  const retry = async (id: string) => {
    expect((await a.call('POST', `/v1/jobs/${id}/retry`)).status).toBe(202);
    const job = await a.waitFor(id);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    return job;
  };

  it('a retry after the cited document was deleted neither quotes nor cites it', async () => {
    await complete(a, 'ingest', {
      collection: 'del',
      documents: [
        { id: 'falcon', text: 'Project Falcon launches on March 3 from the northern site.' },
        { id: 'weather', text: 'The northern site has cold winters and windy springs.' },
      ],
    });
    const id = await failAtAnswer({ collection: 'del', question: 'When does Project Falcon launch?', topK: 2 });
    expect((await a.call('DELETE', '/v1/documents/falcon')).status).toBe(200);

    fake.calls.length = 0;
    const job = await retry(id);
    const prompt = JSON.stringify(fake.calls.find((c) => c.path.endsWith('chat/completions'))?.body.messages);
    const existing = await stack.database.db.query<{ id: string }>(sql`SELECT id FROM chunks`);
    const ids = new Set(existing.map((r) => r.id));
    const cited = job.result.citations as Citation[];
    expect(prompt).not.toContain('Project Falcon launches');
    expect(cited.filter((c) => !ids.has(c.chunkId)).map((c) => c.documentId)).toEqual([]);
  });

  it('a retry after the document became restricted does not show it to a public query', async () => {
    const memo = 'The merger with Northwind closes on June 9 at a price of 41 dollars a share.';
    await complete(a, 'ingest', { collection: 'acl', documents: [{ id: 'memo', text: memo }] });
    const id = await failAtAnswer({ collection: 'acl', question: 'When does the Northwind merger close?' });
    // Same text, relabelled restricted (upsertDocument relabels the stored chunks).
    await complete(a, 'ingest', { collection: 'acl', documents: [{ id: 'memo', text: memo, accessLevel: 'restricted' }] });
    const fresh = await complete(a, 'rag-query', { collection: 'acl', question: 'When does the Northwind merger close?' });
    expect(fresh.result.citations).toEqual([]); // a new query honours the access level

    const job = await retry(id);
    expect((job.result.citations as Citation[]).map((c) => c.documentId)).toEqual([]);
  });

  it('the answer call is bounded: of 24 chunks of ~7,000 tokens, those that fit are sent and cited', async () => {
    // 24 documents of one ~7,000-token chunk each (chunkTokens up to 8,000 is valid for ingest).
    const doc = (i: number) =>
      Array.from({ length: 480 }, (_, k) => `Ledger ${i} line ${k} records ${(k * 13) % 101} crates of olives.`).join(' ');
    await complete(a, 'ingest', {
      collection: 'big',
      chunkTokens: 8_000,
      overlapTokens: 0,
      documents: Array.from({ length: 24 }, (_, i) => ({ id: `ledger-${i}`, text: doc(i) })),
    });
    fake.calls.length = 0;
    const job = await complete(a, 'rag-query', { collection: 'big', question: 'How many crates of olives?', topK: 24 });
    expect(job.result.citations.length).toBeLessThan(24);
    const stored = await stack.database.db.query<{ n: number | string }>(
      sql`SELECT count(*) AS n FROM chunks WHERE collection = 'big'`,
    );
    expect(Number(stored[0]!.n)).toBe(24); // one chunk per document
    const body = fake.calls.find((c) => c.path.endsWith('chat/completions'))!.body;
    const prompt = countChatTokens(body.messages, 'gpt-4o-mini');
    // The type's own token budget (128,000, gpt-4o-mini's window, as chat's).
    expect(prompt).toBeLessThanOrEqual(128_000);
    // What was sent is what is cited, best first.
    const sent = String(body.messages[1].content).match(/^\[\d+\] /gm) ?? [];
    expect(sent.length).toBe(job.result.citations.length);
  }, 180_000);
});

describe('rag-query with the local provider', () => {
  let stack: Stack;
  let a: Client;
  beforeAll(async () => {
    stack = await startStack({ database: await freshPglite() });
    a = client(stack.url, (await stack.tenant()).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('an off-topic question is not "answered" with the question itself, citing unrelated chunks', async () => {
    await complete(a, 'ingest', {
      documents: [{ id: 'bees', text: 'Honey bees communicate the location of flowers with a waggle dance.' }],
    });
    // Shares no content word with the only document.
    const question = 'Capital of France?';
    const job = await complete(a, 'rag-query', { question });
    expect(job.result.answer).not.toBe(question);
  });

  it('rerank is deterministic; topK, documentIds and snippet size honoured', async () => {
    await complete(a, 'ingest', {
      collection: 'kb',
      documents: Array.from({ length: 12 }, (_, i) => ({
        id: `d${i}`,
        text: `Volcano note ${i}: ${'Etna erupts lava near Catania. '.repeat(1 + (i % 3))} ${'x'.repeat(300)}`,
      })),
    });
    const q = { collection: 'kb', question: 'Where does Etna erupt lava?', topK: 3, rerank: true };
    const one = await complete(a, 'rag-query', q);
    const two = await complete(a, 'rag-query', q);
    expect(one.result.citations).toEqual(two.result.citations);
    expect(one.result.citations).toHaveLength(3);
    for (const c of one.result.citations as Citation[]) expect(c.snippet.length).toBeLessThanOrEqual(241);
    const only = await complete(a, 'rag-query', { ...q, filter: { documentIds: ['d4', 'd5'] } });
    expect(new Set((only.result.citations as Citation[]).map((c) => c.documentId))).toEqual(new Set(['d4', 'd5']));
  });
});
