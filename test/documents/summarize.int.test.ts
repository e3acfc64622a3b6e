/**
 * summarize: map-reduce over token-bounded chunks, each call a step. Text and stored
 * documents on embedded PGlite (pgvector); text summaries also on the PostgreSQL server,
 * which has no pgvector (document summaries are refused there at submit). At its edges: a text
 * without spaces (Japanese) summarized by the local provider came back empty; a completed job
 * showed 90 %; an empty answer completed the job with `summary: ""`, billed and cached; a
 * large `maxWords` made the final call larger than `contextTokens`; a bulleted summary lost
 * its line breaks.
 */
import { countChatTokens, countTokens } from '@spool/core/providers/tokens';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Client = ReturnType<typeof client>;
interface Step {
  name: string;
  status: string;
  runs: number;
}

const topics = ['rivers', 'mountains', 'forests', 'deserts', 'oceans', 'glaciers', 'islands', 'valleys'];
/** ~9,000 tokens of distinct sentences: thirty times the 300-token window the tests use. */
const longText = Array.from(
  { length: 400 },
  (_, i) =>
    `Paragraph ${i + 1} notes that the ${topics[i % 8]} of region ${i} shelter ${(i * 7) % 97} species of birds and insects.`,
).join(' ');

const run = async (c: Client, input: unknown) => {
  const res = await c.submit({ type: 'summarize', input });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return c.waitFor(res.body.id, undefined, 60_000);
};

describe('summarize on PGlite', () => {
  let stack: Stack;
  let a: Client;
  let b: Client;

  beforeAll(async () => {
    // A body limit above the text limits, so the job type's own limits answer.
    stack = await startStack({ database: await freshPglite(), bodyLimitBytes: 8 * 1024 * 1024 });
    a = client(stack.url, (await stack.tenant('tenant-a')).apiKey);
    b = client(stack.url, (await stack.tenant('tenant-b')).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('summarizes a text far longer than one context window: one map step per chunk, reduced in levels', async () => {
    expect(countTokens(longText)).toBeGreaterThan(25 * 300);
    const job = await run(a, { text: longText, contextTokens: 300, maxWords: 60 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    const { summary, chunks, reduceLevels, model, usage } = job.result;
    expect(chunks).toBeGreaterThan(20);
    expect(model).toBe('local');
    expect(usage.inputTokens).toBeGreaterThan(countTokens(longText));
    expect(usage.outputTokens).toBeGreaterThan(0);
    // Extractive: every sentence of the summary is quoted from the text; at most maxWords words.
    expect(summary.split(/\s+/).length).toBeLessThanOrEqual(60);
    expect(longText).toContain(summary.split('.')[0]);

    const steps = job.steps as Step[];
    const names = steps.map((s) => s.name);
    const maps = names.filter((n) => n.startsWith('map-'));
    expect(maps.sort()).toEqual(Array.from({ length: chunks }, (_, i) => `map-${i + 1}`).sort());
    // The partials (~45 tokens each) overflow the window more than once: reduce levels, each
    // with fewer calls than the one before, then the final summary.
    expect(reduceLevels).toBeGreaterThanOrEqual(2);
    const perLevel = Array.from(
      { length: reduceLevels + 1 },
      (_, l) => names.filter((n) => n.startsWith(`reduce-${l + 1}-`)).length,
    );
    expect(perLevel.at(-1)).toBe(0);
    for (let l = 1; l < reduceLevels; l++) expect(perLevel[l]).toBeLessThan(perLevel[l - 1]!);
    expect(perLevel[0]).toBeLessThan(chunks);
    expect(names).toContain('reduce-final');
    for (const s of steps) expect(s).toMatchObject({ status: 'completed', runs: 1 });

    // One traced model call per map and reduce step; usage is the sum over them.
    const trace = await a.call('GET', `/v1/jobs/${job.id}/trace`);
    expect(trace.body.totals.calls).toBe(steps.length - 1); // all but `plan`
    expect(trace.body.totals.inputTokens).toBe(usage.inputTokens);

    // Progress counted chunks done out of the total.
    const progress = await stack.database.db.query<{ data: { pct: number; message?: string } }>(
      sql`SELECT data FROM job_events WHERE job_id = ${job.id} AND type = 'progress' ORDER BY seq`,
    );
    const messages = progress.map((p) => p.data.message);
    expect(messages).toContain(`1 of ${chunks} chunks summarized`);
    expect(messages).toContain(`${chunks} of ${chunks} chunks summarized`);
  }, 120_000);

  it('summarizes a short text in one call, without reduce steps', async () => {
    const job = await run(a, { text: 'Cats sleep most of the day. They hunt at dusk.', maxWords: 20 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result).toMatchObject({ chunks: 1, reduceLevels: 0, summary: 'Cats sleep most of the day. They hunt at dusk.' });
    expect((job.steps as Step[]).map((s) => s.name)).toEqual(['plan', 'map-1']);
  }, 60_000);

  it('summarizes a stored document from its chunks in order; tenant-scoped', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `Fact ${i + 1} about the lighthouse keeper is recorded in log ${i}.`).join(
      ' ',
    );
    const ingested = await a.submit({
      type: 'ingest',
      input: { documents: [{ id: 'lighthouse', text }], chunkTokens: 60, overlapTokens: 20 },
    });
    expect((await a.waitFor(ingested.body.id)).status).toBe('completed');

    const job = await run(a, { documentId: 'lighthouse', contextTokens: 200, maxWords: 30 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.chunks).toBeGreaterThan(1);
    expect(job.result.summary.startsWith('Fact 1 about the lighthouse keeper')).toBe(true);
    // The ingest overlap (20 of every 60 tokens) is not summarized twice: the map calls'
    // prompts hold the text once plus at most PROMPT_OVERHEAD_TOKENS (64) of instruction each.
    const maps = await stack.database.db.query<{ n: number | string; tokens: number | string }>(
      sql`SELECT count(*) AS n, sum(input_tokens) AS tokens FROM model_calls WHERE job_id = ${job.id} AND step LIKE 'map-%'`,
    );
    expect(Number(maps[0]!.n)).toBe(job.result.chunks);
    expect(Number(maps[0]!.tokens)).toBeGreaterThanOrEqual(countTokens(text));
    expect(Number(maps[0]!.tokens)).toBeLessThan(countTokens(text) + 64 * job.result.chunks);

    // Another tenant's id is unknown at submit.
    const other = await b.submit({ type: 'summarize', input: { documentId: 'lighthouse' } });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('document_not_found');
  }, 60_000);

  it('fails without retries when the document is deleted after submit', async () => {
    await a
      .submit({ type: 'ingest', input: { documents: [{ id: 'ephemeral', text: 'Short lived. Gone soon.' }] } })
      .then((r) => a.waitFor(r.body.id));
    const res = await a.submit({ type: 'summarize', input: { documentId: 'ephemeral' }, delayMs: 1_500 });
    expect(res.status).toBe(202);
    expect((await a.call('DELETE', '/v1/documents/ephemeral')).status).toBe(200);
    const job = await a.waitFor(res.body.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'document_not_found', retryable: false });
    expect(job.attempts).toBe(1);
  }, 60_000);

  it('refuses bad input with clear 4xx', async () => {
    const cases: [unknown, number, string][] = [
      [{}, 422, 'validation_failed'],
      [{ text: 'a b c', documentId: 'x' }, 422, 'validation_failed'],
      [{ text: '' }, 422, 'validation_failed'],
      [{ text: 'a b c', maxWords: 5 }, 422, 'validation_failed'],
      [{ text: 'a b c', contextTokens: 50 }, 422, 'validation_failed'],
      // An answer of 200 words (about 416 tokens) cannot fit a window of 400 beside any text.
      [{ text: 'a b c', contextTokens: 400 }, 422, 'validation_failed'],
      [{ text: 'a b c', maxWords: 5_000 }, 422, 'validation_failed'],
      [{ documentId: 'no-such-document' }, 422, 'document_not_found'],
      // Past the character limit: the schema answers before anything is counted.
      [{ text: 'x'.repeat(2_000_001) }, 422, 'validation_failed'],
      // Within the character limit, past the token budget (about one token per "a ").
      [{ text: 'a '.repeat(600_000) }, 413, 'token_budget_exceeded'],
    ];
    for (const [input, status, code] of cases) {
      const res = await a.submit({ type: 'summarize', input });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toEqual(expect.any(String));
    }
    const exactlyOne = await a.submit({ type: 'summarize', input: { text: 'a', documentId: 'x' } });
    expect(exactlyOne.body.error.message).toMatch(/exactly one of text or documentId/);
  }, 60_000);
});

describe('summarize on a PostgreSQL without pgvector', () => {
  it('summarizes text; refuses a document summary and the documents API with vectors_unavailable', async () => {
    const database = await freshDatabase();
    const stack = await startStack({ database });
    try {
      expect(database.db.vectors).toBe(false);
      const c = client(stack.url, (await stack.tenant()).apiKey);
      const job = await run(c, { text: longText.slice(0, 6_000), contextTokens: 300, maxWords: 50 });
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      expect(job.result.chunks).toBeGreaterThan(3);
      expect((job.steps as Step[]).map((s) => s.name)).toContain('reduce-final');

      const doc = await c.submit({ type: 'summarize', input: { documentId: 'anything' } });
      expect(doc.status).toBe(422);
      expect(doc.body.error.code).toBe('vectors_unavailable');
      for (const [method, path] of [
        ['GET', '/v1/documents'],
        ['GET', '/v1/documents/x'],
        ['DELETE', '/v1/documents/x'],
      ] as const) {
        const res = await c.call(method, path);
        expect(res.status, `${method} ${path}`).toBe(422);
        expect(res.body.error.code).toBe('vectors_unavailable');
      }
    } finally {
      await stack.close();
      await database.drop();
    }
  }, 90_000);
});

describe('summarize through an OpenAI-compatible server', () => {
  it('calls the provider per chunk; after a failed call, a retry resumes with the completed steps kept', async () => {
    const fake = await startFakeOpenAI();
    let answers = 0;
    fake.answer = () => `Partial summary number ${++answers} of the report.`;
    const database = await freshDatabase();
    const stack = await startStack({
      database,
      env: { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini' },
    });
    try {
      const c = client(stack.url, (await stack.tenant()).apiKey);
      // The sixth call is refused (400: not retryable, no fallback): the job fails.
      fake.next({}, {}, {}, {}, {}, { status: 400, code: 'invalid_request_error' });
      const res = await c.submit({
        type: 'summarize',
        input: { text: longText.slice(0, 8_000), contextTokens: 300, maxWords: 30 },
      });
      expect(res.status).toBe(202);
      const failed = await c.waitFor(res.body.id);
      expect(failed.status).toBe('failed');
      expect(failed.error.retryable).toBe(false);
      const before = failed.steps as Step[];
      // Calls in flight when one failed finished: their steps are kept, only one step failed.
      expect(before.filter((s) => s.status === 'failed')).toHaveLength(1);
      const kept = before.filter((s) => s.status === 'completed' && s.name !== 'plan').map((s) => s.name);
      expect(kept.length).toBeGreaterThanOrEqual(5);
      const callsBefore = fake.count('chat/completions');
      expect(callsBefore).toBe(kept.length + 1);

      expect((await c.call('POST', `/v1/jobs/${res.body.id}/retry`)).status).toBe(202);
      const job = await c.waitFor(res.body.id);
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      const steps = job.steps as Step[];
      for (const s of steps) expect(s.status).toBe('completed');
      for (const name of kept) expect(steps.find((s) => s.name === name)?.runs).toBe(1);
      expect(steps.find((s) => s.name === before.find((b) => b.status === 'failed')!.name)?.runs).toBe(2);
      // Only the steps not completed before called the model again.
      const modelSteps = steps.filter((s) => s.name !== 'plan').length;
      expect(fake.count('chat/completions') - callsBefore).toBe(modelSteps - kept.length);

      expect(job.result.model).toBe('openai:gpt-4o-mini');
      expect(job.result.summary).toMatch(/^Partial summary number \d+ of the report\.$/);
      expect(job.result.chunks).toBe(steps.filter((s) => s.name.startsWith('map-')).length);
      // Each call: the chunk, then the instruction; the answer capped for a 30-word partial.
      const first = fake.calls.find((call) => /This is part 1 of/.test(call.body.messages?.[0]?.content))!.body;
      expect(first.model).toBe('gpt-4o-mini');
      expect(first.messages).toHaveLength(1);
      expect(first.messages[0].content).toMatch(/^Paragraph 1 notes[\s\S]*Summarize the text above in at most 30 words/);
      expect(first.max_tokens ?? first.max_completion_tokens).toBe(76);
    } finally {
      await stack.close();
      await database.drop();
      await fake.close();
    }
  }, 90_000);

  it('every call fits contextTokens, the final one too when maxWords asks for a longer answer than a partial', async () => {
    const fake = await startFakeOpenAI();
    // Answers as long as asked: "at most N words" → N words (a token each).
    fake.answer = (body) => 'word '.repeat(Number(/at most (\d+) words/.exec(body.messages.at(-1).content)?.[1] ?? 10)).trim();
    const database = await freshDatabase();
    const stack = await startStack({
      database,
      env: { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini' },
    });
    try {
      const c = client(stack.url, (await stack.tenant()).apiKey);
      // Partials of 30 words (contextTokens / 10), a final answer of 60: a lone chunk (128 tokens) that
      // fits a partial's call but not the final one, then a map-reduce.
      for (const text of [longText.slice(0, 560), longText.slice(0, 3_000)]) {
        fake.calls.length = 0;
        const job = await run(c, { text, contextTokens: 300, maxWords: 60 });
        expect(job.status, JSON.stringify(job.error)).toBe('completed');
        const sizes = fake.calls.map((call) => countChatTokens(call.body.messages, 'gpt-4o-mini') + call.body.max_tokens);
        expect(sizes.length).toBeGreaterThan(0);
        for (const size of sizes) expect(size).toBeLessThanOrEqual(300);
      }
    } finally {
      await stack.close();
      await database.drop();
      await fake.close();
    }
  }, 90_000);
});

describe('summarize at its edges, with the default local provider', () => {
  let stack: Stack;
  let c: Client;
  beforeAll(async () => {
    stack = await startStack({ database: await freshDatabase() });
    c = client(stack.url, (await stack.tenant()).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  it('a Japanese text gets a non-empty summary', async () => {
    const cities = ['東京', '大阪', '京都', '札幌', '福岡', '名古屋', '神戸', '仙台'];
    const text = Array.from(
      { length: 24 },
      (_, i) => `${cities[i % 8]}の第${i + 1}地区では、${(i * 7) % 97}種類の鳥と昆虫が川の近くで暮らしている。`,
    ).join('');
    const job = await run(c, { text, maxWords: 40 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.summary.length).toBeGreaterThan(0);
  });

  it('a completed summarize reports progress 100', async () => {
    const job = await run(c, { text: longText.slice(0, 3_000), contextTokens: 300, maxWords: 30 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.chunks).toBeGreaterThan(1);
    expect(job.progress.pct).toBe(100);
  });
});

describe('summarize at its edges, through an OpenAI-compatible server', () => {
  let fake: FakeOpenAI;
  let stack: Stack;
  let c: Client;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    stack = await startStack({
      database: await freshDatabase(),
      env: { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini' },
    });
    c = client(stack.url, (await stack.tenant()).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
    await fake?.close();
  });

  it('a model answering only whitespace fails the job (empty_summary) after its tries, not completes it with ""', async () => {
    fake.answer = () => '  \n ';
    const job = await run(c, { text: longText.slice(0, 3_000), contextTokens: 300, maxWords: 30 });
    expect(job).toMatchObject({ status: 'failed', attempts: 3, error: { code: 'empty_summary' } });
  });

  it('every call fits contextTokens when maxWords is large (the final call too); past the room, 422', async () => {
    // A word of two tokens; answers as long as asked, but never longer than max_tokens (as a real model).
    const W = 'Pompeii';
    const perWord = countTokens(`${W} `.repeat(100).trim()) / 100;
    expect(perWord).toBeGreaterThanOrEqual(2);
    fake.answer = (body) => {
      const asked = Number(/at most (\d+) words/.exec(body.messages.at(-1).content)?.[1] ?? 10);
      const cap = Math.floor((body.max_tokens ?? body.max_completion_tokens) / perWord);
      return `${W} `.repeat(Math.min(asked, cap)).trim();
    };
    fake.calls.length = 0;
    const contextTokens = 1_000;
    // An answer of 440 words (896 tokens) leaves the final call no room for a partial summary.
    const refused = await c.submit({ type: 'summarize', input: { text: longText.slice(0, 600), contextTokens, maxWords: 440 } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toMatch(/maxWords leaves too little room for text in contextTokens/);
    // The largest maxWords accepted for this window.
    const job = await run(c, { text: longText.slice(0, 600), contextTokens, maxWords: 352 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    const sizes = fake.calls
      .filter((call) => call.path.endsWith('chat/completions'))
      .map((call) => ({
        step: /Combine/.test(call.body.messages[0].content) ? 'reduce' : 'map',
        size: countChatTokens(call.body.messages) + (call.body.max_tokens ?? call.body.max_completion_tokens),
      }));
    expect(sizes.length).toBeGreaterThan(0);
    for (const s of sizes) expect(s.size, JSON.stringify(sizes)).toBeLessThanOrEqual(contextTokens);
  });

  it('a single giant word / base64 blob: every call fits contextTokens', async () => {
    fake.answer = (body) => 'word '.repeat(Number(/at most (\d+) words/.exec(body.messages.at(-1).content)?.[1] ?? 10)).trim();
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const blob = Array.from({ length: 6_000 }, () => alphabet[rnd() % 64]).join('');
    for (const text of [blob, '中'.repeat(3_000), `${'x'.repeat(5_000)}`]) {
      fake.calls.length = 0;
      const job = await run(c, { text, contextTokens: 300, maxWords: 30 });
      expect(job.status, JSON.stringify(job.error)).toBe('completed');
      for (const call of fake.calls) {
        const size = countChatTokens(call.body.messages) + call.body.max_tokens;
        expect(size).toBeLessThanOrEqual(300);
      }
    }
  });

  it('a summary within maxWords keeps its line breaks (a bulleted answer)', async () => {
    fake.answer = () => '- Rivers shelter birds.\n- Mountains shelter insects.';
    const job = await run(c, { text: 'Rivers shelter birds. Mountains shelter insects.', maxWords: 50 });
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result.summary).toBe('- Rivers shelter birds.\n- Mountains shelter insects.');
  });
});
