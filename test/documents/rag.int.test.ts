/**
 * ingest and rag-query: vector tables on embedded PGlite (pgvector), the job path on the real
 * Redis; and on the PostgreSQL server (no pgvector): migrations still apply, ingest is refused.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const corpus = [
  {
    id: 'volcanoes',
    text: 'Volcanoes form where magma reaches the surface. Mount Etna in Sicily is one of the most active volcanoes in Europe. Lava flows from Etna reach villages every few decades.',
  },
  {
    id: 'bees',
    contentType: 'html' as const,
    text: '<html><body><h1>Bees</h1><p>Honey bees communicate the location of flowers with a waggle dance.</p><script>var x = "volcano";</script><p>A colony keeps one queen &amp; thousands of workers.</p></body></html>',
  },
  {
    id: 'trains',
    text: '# Trains\n\nThe Shinkansen in Japan runs at up to 320 km/h. High-speed rail connects Tokyo and Osaka in under three hours.',
  },
];

describe('documents on PGlite with pgvector', () => {
  let stack: Stack;
  let a: ReturnType<typeof client>;
  let b: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack({ database: await freshPglite() });
    expect(stack.database.db.vectors).toBe(true);
    a = client(stack.url, (await stack.tenant('tenant-a')).apiKey);
    b = client(stack.url, (await stack.tenant('tenant-b')).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  const run = async (c: ReturnType<typeof client>, type: string, input: unknown) => {
    const res = await c.submit({ type, input });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const job = await c.waitFor(res.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    return job;
  };

  it('ingests a corpus and answers with a citation of the right document', async () => {
    const job = await run(a, 'ingest', { documents: corpus });
    expect(job.result).toMatchObject({ documentIds: ['volcanoes', 'bees', 'trains'], unchanged: 0 });
    expect(job.result.chunks).toBeGreaterThanOrEqual(3);
    expect(job.result.tokens).toBeGreaterThan(20);
    const rows = await stack.database.db.query<{ text: string }>(sql`SELECT text FROM chunks WHERE document_id = 'bees'`);
    expect(rows.map((r) => r.text).join(' ')).not.toMatch(/<|volcano|script/);
    expect(rows.map((r) => r.text).join(' ')).toContain('queen & thousands');

    const q = await run(a, 'rag-query', { question: 'Which volcano in Sicily is active?', topK: 2 });
    expect(q.result.citations[0]).toMatchObject({ documentId: 'volcanoes' });
    expect(q.result.citations[0].score).toBeGreaterThan(q.result.citations[1]?.score ?? -1);
    expect(q.result.citations[0].chunkId).toEqual(expect.any(String));
    expect(q.result.answer).toContain('Etna');
  }, 60_000);

  it('refuses an embedding model the catalog does not offer at submit, as it does a chat model', async () => {
    for (const input of [
      { question: 'why?', embedModel: 'openai:embed-unpriced' },
      { question: 'why?', model: 'openai:chat-unpriced' },
    ]) {
      const res = await a.submit({ type: 'rag-query', input });
      expect(res.status, JSON.stringify(input)).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'unknown_model', details: { model: input.embedModel ?? input.model } });
    }
  });

  it('never returns another tenant’s chunks', async () => {
    const q = await run(b, 'rag-query', { question: 'Which volcano in Sicily is active?' });
    expect(q.result.citations).toEqual([]);
    await run(b, 'ingest', { documents: [{ id: 'b-doc', text: 'Tenant B keeps notes about Etna too, the volcano in Sicily.' }] });
    const again = await run(b, 'rag-query', { question: 'Which volcano in Sicily is active?', topK: 10 });
    expect(again.result.citations.map((c: { documentId: string }) => c.documentId)).toEqual(['b-doc']);
  }, 60_000);

  it('hides chunks of access levels the query does not name', async () => {
    await run(a, 'ingest', {
      collection: 'hr',
      documents: [
        { id: 'salaries', accessLevel: 'restricted', text: 'The salary bands for engineers are confidential.' },
        { id: 'holidays', text: 'Engineers get thirty days of holidays.' },
      ],
    });
    const pub = await run(a, 'rag-query', { collection: 'hr', question: 'What are the salary bands for engineers?', topK: 10 });
    expect(pub.result.citations.map((c: { documentId: string }) => c.documentId)).toEqual(['holidays']);
    const all = await run(a, 'rag-query', {
      collection: 'hr',
      question: 'What are the salary bands for engineers?',
      topK: 10,
      filter: { accessLevels: ['public', 'restricted'] },
    });
    expect(all.result.citations[0].documentId).toBe('salaries');
  }, 60_000);

  it('re-ingesting an unchanged document embeds nothing; a changed one replaces its chunks', async () => {
    const again = await run(a, 'ingest', { documents: corpus });
    expect(again.result.unchanged).toBe(again.result.chunks);
    expect(again.steps?.map((s: { name: string }) => s.name) ?? ['plan']).not.toContain('embed-1');
    const traces = await stack.database.db.query<{ n: number | string }>(
      sql`SELECT count(*) AS n FROM model_calls WHERE job_id = ${again.id} AND kind = 'embed'`,
    );
    expect(Number(traces[0]!.n)).toBe(0);

    const changed = await run(a, 'ingest', { documents: [{ id: 'trains', text: 'Trains are now slow.' }] });
    expect(changed.result).toMatchObject({ chunks: 1, unchanged: 0 });
    const rows = await stack.database.db.query<{ text: string }>(sql`SELECT text FROM chunks WHERE document_id = 'trains'`);
    expect(rows.map((r) => r.text)).toEqual(['Trains are now slow.']);
  }, 60_000);

  it('a text without words (a zero vector, which has no cosine distance) breaks no query', async () => {
    await run(b, 'ingest', {
      collection: 'zero',
      documents: [
        { id: 'emoji', text: '🎉 🎉 🎉 — ✓ ✓' },
        { id: 'etna', text: 'Mount Etna is an active volcano in Sicily.' },
      ],
    });
    const wordless = await run(b, 'rag-query', { collection: 'zero', question: '???', topK: 5 });
    expect(wordless.result.citations).toEqual([]);
    // An exact scan (a small tenant on a big table) meets the zero vector, which HNSW does not index.
    await stack.database.db.query(sql`SET enable_indexscan = off`);
    try {
      const q = await run(b, 'rag-query', { collection: 'zero', question: 'Which volcano is in Sicily?', topK: 5 });
      expect(q.result.citations.map((c: { documentId: string }) => c.documentId)).toEqual(['etna']);
    } finally {
      await stack.database.db.query(sql`RESET enable_indexscan`);
    }
  }, 60_000);

  it('cuts the snippet and the traced question between characters, not inside an emoji', async () => {
    // The snippet keeps 240 UTF-16 units: here the 240th is the first half of an emoji, which
    // PostgreSQL's jsonb refuses alone (the job failed at its closing write).
    const text = `Volcano facts ${'x'.repeat(239 - 'Volcano facts '.length)}😀 and more about the volcano Etna.`;
    expect(text.charCodeAt(239)).toBe(0xd83d);
    await run(b, 'ingest', { collection: 'emoji', documents: [{ id: 'emoji', text }] });
    const cited = await run(b, 'rag-query', { collection: 'emoji', question: 'Tell me about the volcano Etna' });
    expect(cited.result.citations[0]).toMatchObject({ documentId: 'emoji', snippet: `${text.slice(0, 239)}…` });
    // The trace keeps 2,000 units of the question.
    const question = `${'volcano '.repeat(250).slice(0, 1_999)}😀?`;
    expect(question.charCodeAt(1_999)).toBe(0xd83d);
    await run(b, 'rag-query', { collection: 'emoji', question });
  }, 60_000);
});

describe('documents on a PostgreSQL without pgvector', () => {
  it('migrates, and refuses ingest at submit with 422', async () => {
    const database = await freshDatabase();
    const stack = await startStack({ database, worker: false });
    try {
      expect(database.db.vectors).toBe(false);
      const c = client(stack.url, (await stack.tenant()).apiKey);
      const res = await c.submit({ type: 'ingest', input: { documents: [{ text: 'hello' }] } });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('vectors_unavailable');
      expect(res.body.error.message).toMatch(/pgvector/);
      const ok = await c.submit({ type: 'debug-steps', input: { steps: 0 } });
      expect(ok.status).toBe(202);
    } finally {
      await stack.close();
      await database.drop();
    }
  }, 60_000);
});
