/**
 * `summarize` at its edges: a text without spaces (Japanese) summarized by the local provider
 * came back empty; a completed job showed 90 %; an empty answer completed the job with
 * `summary: ""`, billed and cached; a large `maxWords` made the final call larger than
 * `contextTokens`; a bulleted summary lost its line breaks.
 */
import { countChatTokens, countTokens } from '@spool/core/providers/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Client = ReturnType<typeof client>;

const topics = ['rivers', 'mountains', 'forests', 'deserts', 'oceans', 'glaciers', 'islands', 'valleys'];
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

describe('summarize with the default local provider', () => {
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

describe('summarize through an OpenAI-compatible server', () => {
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
