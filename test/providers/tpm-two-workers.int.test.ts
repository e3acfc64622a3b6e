/**
 * A TPM limit holds across two real worker processes: many `chat` jobs, both workers sharing
 * one limiter in Redis (`SPOOL_MODEL_LIMITS`, a 1 s window), the real `openai` SDK against the
 * fake OpenAI server. The fake sees every request's arrival time and tokens; each worker gets
 * its own base-URL path so the fake can tell them apart.
 */
import { countChatTokens } from '@spool/core/providers/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

const MODEL = 'gpt-4o-mini';
const WINDOW_MS = 1_000;
const JOBS = 20;
const MAX_TOKENS = 20;
const messages = [{ role: 'user' as const, content: 'Name one reason to rate limit model calls.' }];
// What the limiter reserves for one call: the tiktoken estimate of the prompt plus maxTokens.
const PER_CALL = countChatTokens(messages, MODEL) + MAX_TOKENS;
// Room for three calls and part of a fourth per window: 20 jobs need at least 7 windows.
const TPM = 3 * PER_CALL + Math.floor(PER_CALL / 2);

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

describe('TPM limit across two worker processes', () => {
  let fake: FakeOpenAI;
  let stack: Stack;
  const workers: Child[] = [];

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    // The fake reports usage equal to what the limiter reserved (its prompt count plus an
    // answer of the remaining length), so no reservation needs correcting and every token a
    // window admitted is one the fake counted.
    fake.answer = (body) => {
      const prompt = body.messages.reduce((n: number, m: { content: string }) => n + words(m.content) + 4, 0);
      return Array.from({ length: PER_CALL - prompt }, () => 'ok').join(' ');
    };
    stack = await startStack({ worker: false });
    const base = new URL(fake.url);
    const start = (name: string) =>
      startWorkerProcess({
        databaseUrl: stack.database.url,
        redisUrl: REDIS_URL,
        prefix: stack.prefix,
        // Jobs wait for the limiter for seconds on a busy machine: a short lock would let the
        // other worker take a waiting job over and call the model for it a second time.
        lockMs: 15_000,
        env: {
          OPENAI_BASE_URL: `${base.origin}/${name}/v1`,
          OPENAI_API_KEY: 'sk-test',
          // No fallback: every job's answer must come through the limited model.
          SPOOL_CHAT_MODELS: `openai:${MODEL}`,
          SPOOL_MODEL_LIMITS: `openai:${MODEL}=0/${TPM}`,
          SPOOL_MODEL_LIMIT_WINDOW_MS: String(WINDOW_MS),
          LOG_LEVEL: 'info',
        },
      });
    workers.push(...(await Promise.all([start('worker-a'), start('worker-b')])));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    await stack?.close();
    await fake?.close();
  });

  it('admits at most the limit per window across both processes; both work; every job completes', async () => {
    expect(TPM).toBeLessThan(4 * PER_CALL);
    const api = client(stack.url, (await stack.tenant('tpm')).apiKey);
    const started = Date.now();
    const run = async (n: number) => {
      const jobs = Array.from({ length: n }, () => ({ type: 'chat', input: { messages, maxTokens: MAX_TOKENS } }));
      const res = await api.call('POST', '/v1/jobs/batch', { jobs });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const done: any[] = [];
      // One poller at a time: twenty polling at once would load the two cores the workers need.
      for (const j of res.body.data as { id: string }[])
        done.push(await api.waitFor(j.id, undefined, 38_000 - (Date.now() - started)));
      return done;
    };
    // Warm-up: a worker's first call loads tiktoken's tables and opens connections, and its
    // request then reaches the fake hundreds of ms after admission, blurring the windows.
    await run(4);
    // Then let the warm-up's window run out, so the measured jobs start a fresh one.
    await new Promise((r) => setTimeout(r, WINDOW_MS + 200));
    fake.calls.length = 0;

    const done = await run(JOBS);
    const elapsed = Date.now() - started;
    expect(done.map((j) => j.status)).toEqual(Array(JOBS).fill('completed'));
    expect(done.every((j) => j.result.model === `openai:${MODEL}` && j.usage.inputTokens > 0)).toBe(true);

    const calls = fake.calls.filter((c) => c.path.endsWith('/chat/completions')).sort((x, y) => x.at - y.at);
    expect(calls).toHaveLength(JOBS);
    // Each call's tokens as the fake reported them (its prompt count + the answer's words).
    const tokens = (c: (typeof calls)[number]) =>
      c.body.messages.reduce((n: number, m: { content: string }) => n + words(m.content) + 4, 0) + words(fake.answer(c.body));
    expect(calls.every((c) => tokens(c) === PER_CALL)).toBe(true);

    // Admissions come in bursts at each window's start, then nothing until the window ends:
    // split the arrivals where they pause for more than a third of a window.
    const windows: { start: number; end: number; tokens: number; calls: number }[] = [];
    for (const c of calls) {
      const last = windows.at(-1);
      if (last && c.at - last.end < WINDOW_MS / 3) {
        last.end = c.at;
        last.tokens += tokens(c);
        last.calls++;
      } else windows.push({ start: c.at, end: c.at, tokens: tokens(c), calls: 1 });
    }
    const summary = JSON.stringify(windows.map((w) => ({ ...w, start: w.start - calls[0]!.at, end: w.end - calls[0]!.at })));
    for (const w of windows) expect(w.tokens, summary).toBeLessThanOrEqual(TPM);
    for (let i = 1; i < windows.length; i++) {
      // A new window opens only once the previous one (1 s, Redis clock) has expired.
      // (less a margin for the time from admission to arrival at the fake on a busy machine).
      expect(windows[i]!.start - windows[i - 1]!.start, summary).toBeGreaterThanOrEqual(WINDOW_MS - 250);
    }
    expect(windows.length).toBeGreaterThanOrEqual(Math.ceil((JOBS * PER_CALL) / TPM));

    const byWorker = (name: string) => calls.filter((c) => c.path.startsWith(`/${name}/`)).length;
    expect(byWorker('worker-a'), summary).toBeGreaterThan(0);
    expect(byWorker('worker-b'), summary).toBeGreaterThan(0);
    expect(byWorker('worker-a') + byWorker('worker-b')).toBe(JOBS);
    expect(elapsed).toBeLessThan(40_000);
  }, 40_000);
});
