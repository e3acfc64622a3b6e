/**
 * The governed model layer (packages/core/src/providers) with the real `openai` SDK against a
 * fake OpenAI-compatible server on loopback, real Redis and a fresh PostgreSQL database:
 * retries and their spacing, error classes, timeouts, malformed answers, the shared circuit
 * breaker, the fallback chain, shared RPM/TPM admission and 429 pauses, caches, embeddings,
 * streaming restarts and spend caps. Each test uses its own Redis prefix.
 */
import { randomBytes } from 'node:crypto';
import { budgetEnv, loadEnv, providerEnv } from '@spool/core/env';
import { SpoolError } from '@spool/core/errors';
import { newId } from '@spool/core/ids';
import { createLogger } from '@spool/core/logger';
import { modelRequests } from '@spool/core/metrics';
import { jobTrace } from '@spool/core/model-calls';
import {
  createModelService,
  type JobScope,
  type ModelService,
  modelsConfig,
  SharedBreaker,
  SharedLimiter,
} from '@spool/core/providers';
import { createRedis, type Redis } from '@spool/core/redis';
import { createTenant } from '@spool/core/tenants';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL } from '../support/env.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { eventually } from '../support/http.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent');
const prefix = () => `spooltest-${randomBytes(4).toString('hex')}`;
const hi = [{ role: 'user' as const, content: 'hi' }];

let database: TestDatabase;
let fake: FakeOpenAI;
let redis: Redis;
let other: Redis; // a second connection: "another process"
const connections: Redis[] = [];
let tenantId: string;

async function service(env: Record<string, string> = {}, p = prefix(), conn: Redis = redis): Promise<ModelService> {
  const config = modelsConfig(
    loadEnv(providerEnv.merge(budgetEnv), {
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test',
      SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini,local',
      SPOOL_MODEL_RETRY_BASE_MS: '20',
      SPOOL_MODEL_RETRY_MAX_MS: '200',
      SPOOL_MODEL_TIMEOUT_MS: '3000',
      ...env,
    }),
  );
  return createModelService({ db: database.db, redis: conn, prefix: p, log, config });
}

/** A job row for trace rows to belong to, and the scope a handler's calls run in. */
async function job(
  tenant = tenantId,
  controller = new AbortController(),
): Promise<JobScope & { deltas: { text: string; restart?: boolean }[] }> {
  const id = newId();
  await database.db.query(
    sql`INSERT INTO jobs (id, tenant_id, type, status, input) VALUES (${id}, ${tenant}, 'chat', 'running', '{}'::jsonb)`,
  );
  const deltas: { text: string; restart?: boolean }[] = [];
  return {
    jobId: id,
    tenantId: tenant,
    type: 'chat',
    attempt: 1,
    signal: controller.signal,
    log,
    emit: (d) => deltas.push(d),
    deltas,
  };
}

const trace = async (scope: JobScope) => (await jobTrace(database.db, scope.tenantId, scope.jobId))!;

beforeAll(async () => {
  database = await freshDatabase();
  fake = await startFakeOpenAI();
  redis = createRedis(REDIS_URL, 'worker');
  other = createRedis(REDIS_URL, 'worker');
  connections.push(redis, other);
  tenantId = (await createTenant(database.db, 'models')).id;
});

afterAll(async () => {
  await fake?.close();
  await Promise.all(connections.map((c) => c.quit().catch(() => {})));
  await database?.drop();
});

beforeEach(() => fake.reset());

describe('requests', () => {
  it('a reasoning model is sent max_completion_tokens and no temperature, which it would refuse', async () => {
    const models = await service();
    const call = { messages: hi, maxTokens: 50, temperature: 0 };
    await models.forJob(await job()).chat({ ...call, model: 'openai:o4-mini' });
    await models.forJob(await job()).chat({ ...call, model: 'openai:gpt-4o-mini' });
    const [reasoning, chat] = fake.calls.map((c) => c.body);
    expect(reasoning).toMatchObject({ model: 'o4-mini', max_completion_tokens: 50 });
    expect(reasoning).not.toHaveProperty('max_tokens');
    expect(reasoning).not.toHaveProperty('temperature');
    expect(chat).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 50, temperature: 0 });
  });
});

describe('retries', () => {
  it('waits out a 429’s Retry-After, then answers; both attempts are traced', async () => {
    const models = await service();
    const scope = await job();
    fake.next({ status: 429, headers: { 'retry-after': '1' } });
    const out = await models.forJob(scope).chat({ messages: hi, step: 'complete' });
    expect(out).toMatchObject({ content: 'echo: hi', model: 'openai:gpt-4o-mini', cached: false, fallbackUsed: false });
    expect(fake.count('chat/completions')).toBe(2);
    expect(fake.calls[1]!.at - fake.calls[0]!.at).toBeGreaterThanOrEqual(950);
    const rows = await trace(scope);
    expect(rows.map((r) => [r.status, r.errorClass, r.callTry, r.step])).toEqual([
      ['error', 'rate_limit', 1, 'complete'],
      ['ok', null, 2, 'complete'],
    ]);
    expect(rows[1]).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', inputTokens: 5, outputTokens: 2 });
    expect(rows[1]!.costUsd).toBeCloseTo((5 * 0.15 + 2 * 0.6) / 1e6, 10);
  });

  it('honours x-ratelimit-reset-* when there is no Retry-After', async () => {
    const models = await service();
    fake.next({ status: 429, headers: { 'x-ratelimit-reset-requests': '200ms', 'x-ratelimit-reset-tokens': '700ms' } });
    await models.forJob(await job()).chat({ messages: hi });
    expect(fake.calls[1]!.at - fake.calls[0]!.at).toBeGreaterThanOrEqual(650);
  });

  it('does not wait out a Retry-After longer than the cap: it falls back at once', async () => {
    const models = await service({ SPOOL_MODEL_MAX_RETRY_WAIT_MS: '5000' });
    fake.next({ status: 429, headers: { 'retry-after': '120' } });
    const started = Date.now();
    const out = await models.forJob(await job()).chat({ messages: hi });
    expect(out).toMatchObject({ model: 'local', fallbackUsed: true });
    expect(fake.count()).toBe(1);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('later calls fall back too while that long pause lasts, instead of sitting it out in admission', async () => {
    const p = prefix();
    const models = await service({ SPOOL_MODEL_MAX_RETRY_WAIT_MS: '5000' }, p);
    fake.next({ status: 429, headers: { 'retry-after': '120' } });
    expect(await models.forJob(await job()).chat({ messages: hi })).toMatchObject({ fallbackUsed: true });
    // Another job (another process, same Redis) asks while the model is paused for 2 minutes.
    const later = await service({ SPOOL_MODEL_MAX_RETRY_WAIT_MS: '5000' }, p, other);
    const scope = await job();
    const started = Date.now();
    const out = await later.forJob(scope).chat({ messages: [{ role: 'user', content: 'later' }] });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(out).toMatchObject({ model: 'local', fallbackUsed: true });
    expect(fake.count()).toBe(1);
    expect((await trace(scope)).map((r) => [r.provider, r.status, r.errorClass])).toEqual([
      ['openai', 'skipped', 'rate_limit'],
      ['local', 'ok', null],
    ]);
  }, 15_000);

  it('retries 5xx twice with growing waits, then falls back to local', async () => {
    const models = await service({ SPOOL_MODEL_RETRY_BASE_MS: '200', SPOOL_MODEL_RETRY_MAX_MS: '2000' });
    const scope = await job();
    fake.always({ status: 500 });
    const out = await models.forJob(scope).chat({
      messages: [
        { role: 'system', content: 'The sky is blue.' },
        { role: 'user', content: 'What colour is the sky?' },
      ],
    });
    expect(out).toMatchObject({ model: 'local', fallbackUsed: true, content: 'The sky is blue.' });
    expect(fake.count()).toBe(3);
    // Equal jitter: the first wait is 100–200 ms, the second 200–400 ms.
    const gaps = [fake.calls[1]!.at - fake.calls[0]!.at, fake.calls[2]!.at - fake.calls[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[1]).toBeGreaterThanOrEqual(190);
    const rows = await trace(scope);
    expect(rows.map((r) => [r.provider, r.status, r.errorClass, r.callTry, r.fallbackFrom])).toEqual([
      ['openai', 'error', 'server', 1, null],
      ['openai', 'error', 'server', 2, null],
      ['openai', 'error', 'server', 3, null],
      ['local', 'ok', null, 1, 'openai:gpt-4o-mini'],
    ]);
  });

  it('stops at once on a 400: no retry, no fallback, a non-retryable job error', async () => {
    const models = await service();
    fake.next({ status: 400 });
    await expect(models.forJob(await job()).chat({ messages: hi })).rejects.toMatchObject({
      code: 'bad_request',
      retryable: false,
    });
    expect(fake.count()).toBe(1);
  });

  it('does not retry context_length or auth failures, but the chain may take them', async () => {
    const models = await service();
    fake.next({ status: 400, code: 'context_length_exceeded' });
    const scope = await job();
    expect(await models.forJob(scope).chat({ messages: hi })).toMatchObject({ model: 'local', fallbackUsed: true });
    fake.next({ status: 401 });
    expect(await models.forJob(scope).chat({ messages: hi })).toMatchObject({ model: 'local', fallbackUsed: true });
    expect(fake.count()).toBe(2);
    expect((await trace(scope)).filter((r) => r.status === 'error').map((r) => r.errorClass)).toEqual(['context_length', 'auth']);
  });

  it('times out a hung request and retries it', async () => {
    const models = await service({ SPOOL_MODEL_TIMEOUT_MS: '300' });
    const scope = await job();
    fake.next({ hang: true });
    const out = await models.forJob(scope).chat({ messages: hi });
    expect(out).toMatchObject({ content: 'echo: hi', fallbackUsed: false });
    const rows = await trace(scope);
    expect(rows[0]).toMatchObject({ status: 'error', errorClass: 'timeout' });
    expect(rows[0]!.latencyMs).toBeGreaterThanOrEqual(280);
  });

  it('bounds a stream by its silences, not its length: a long answer that keeps coming is not cut', async () => {
    const models = await service({ SPOOL_MODEL_TIMEOUT_MS: '500' });
    fake.chunkDelayMs = 40; // 30 words: 1.2 s of steady stream
    fake.answer = () => Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const scope = await job();
    const out = await models.forJob(scope).chat({ messages: hi, stream: true });
    expect(out).toMatchObject({ model: 'openai:gpt-4o-mini', fallbackUsed: false });
    expect((await trace(scope)).map((r) => r.status)).toEqual(['ok']);
    // A first token later than the timeout is still one.
    const slow = await job();
    fake.next({ latencyMs: 1_000 });
    await models.forJob(slow).chat({ messages: hi, stream: true });
    expect((await trace(slow)).map((r) => [r.status, r.errorClass])).toEqual([
      ['error', 'timeout'],
      ['ok', null],
    ]);
  });

  it('retries a malformed JSON answer', async () => {
    const models = await service();
    const scope = await job();
    fake.next({ badJson: true });
    expect(await models.forJob(scope).chat({ messages: hi })).toMatchObject({ content: 'echo: hi' });
    expect((await trace(scope))[0]).toMatchObject({ status: 'error', errorClass: 'bad_response' });
  });

  it('a stream cut short is asked again, and the client is told to discard what it saw', async () => {
    const models = await service();
    const scope = await job();
    fake.next({ cutAfterChunks: 1 });
    const out = await models.forJob(scope).chat({ messages: [{ role: 'user', content: 'one two three' }], stream: true });
    expect(out.content).toBe('echo: one two three');
    const restart = scope.deltas.findIndex((d) => d.restart);
    expect(
      scope.deltas
        .slice(0, restart)
        .map((d) => d.text)
        .join(''),
    ).toBe('echo: ');
    expect(
      scope.deltas
        .slice(restart + 1)
        .map((d) => d.text)
        .join(''),
    ).toBe('echo: one two three');
    expect(fake.calls.every((c) => c.stream)).toBe(true);
  });

  it('a stream cut short still costs what it generated: the failed try is priced, and the job’s usage has it', async () => {
    const models = await service();
    const scope = await job();
    fake.next({ cutAfterChunks: 3 });
    const messages = [{ role: 'user' as const, content: 'one two three four five six' }];
    await models.forJob(scope).chat({ messages, stream: true });
    const [cut, ok] = await trace(scope);
    expect(cut).toMatchObject({ status: 'error', errorClass: expect.any(String) });
    expect(cut!.inputTokens).toBeGreaterThan(0);
    expect(cut!.outputTokens).toBeGreaterThan(0);
    expect(cut!.outputTokens).toBeLessThan(ok!.outputTokens);
    expect(cut!.costUsd).toBeGreaterThan(0);
    const [row] = await database.db.query<{ usage: { costUsd: number; outputTokens: number } }>(
      sql`SELECT usage FROM jobs WHERE id = ${scope.jobId}`,
    );
    expect(row!.usage.outputTokens).toBe(cut!.outputTokens + ok!.outputTokens);
    expect(Number(row!.usage.costUsd)).toBeCloseTo(cut!.costUsd + ok!.costUsd, 8);
  });
});

describe('usage', () => {
  it('a token count that is no count ("1", -1, 1.5, 3e9, missing) is counted here: the answer stands, traced and priced once', async () => {
    const models = await service({ SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/2000' });
    for (const stream of [false, true]) {
      for (const usage of [
        { prompt_tokens: 5, completion_tokens: '1' },
        { prompt_tokens: -1, completion_tokens: 2 },
        { prompt_tokens: 5, completion_tokens: 1.5 },
        // Past the trace's int4 columns: the trace row was refused, so the cost went unrecorded.
        { prompt_tokens: 5, completion_tokens: 3_000_000_000 },
        {},
      ]) {
        fake.reset();
        fake.next({ usage, content: 'one two three' });
        const scope = await job();
        const r = await models.forJob(scope).chat({ messages: hi, stream });
        expect(r.content).toBe('one two three');
        expect(fake.count('chat/completions')).toBe(1);
        expect(Number.isSafeInteger(r.usage.inputTokens) && r.usage.inputTokens > 0).toBe(true);
        expect(Number.isSafeInteger(r.usage.outputTokens) && r.usage.outputTokens > 0).toBe(true);
        expect(r.usage.costUsd).toBeGreaterThan(0);
        expect(r.usage.outputTokens).toBeLessThan(2 ** 31);
        expect((await trace(scope)).map((c) => c.status)).toEqual(['ok']);
      }
    }
  });
});

describe('circuit breaker', () => {
  /** A service whose breaker opened after 5 failed calls and whose `openMs` has passed: the next call probes. */
  async function halfOpen(openMs: number) {
    const models = await service({ SPOOL_BREAKER_OPEN_MS: String(openMs), SPOOL_MODEL_RETRIES: '0' });
    const breaker = models.breaker({ provider: 'openai', model: 'gpt-4o-mini' });
    fake.always({ status: 500 });
    for (let i = 0; i < 5; i++) await models.forJob(await job()).chat({ messages: hi });
    expect(await breaker.state()).toBe('open');
    await new Promise((r) => setTimeout(r, openMs + 100));
    return { models, breaker };
  }

  it('opens after 5 consecutive failures: later calls skip the model without an HTTP request, then a probe closes it', async () => {
    const models = await service({ SPOOL_BREAKER_OPEN_MS: '1000' });
    fake.always({ status: 500 });
    const first = await job();
    expect(await models.forJob(first).chat({ messages: hi })).toMatchObject({ fallbackUsed: true }); // 3 failures
    expect(await models.forJob(first).chat({ messages: hi })).toMatchObject({ fallbackUsed: true }); // 2 more: open
    expect(fake.count()).toBe(5);
    expect(await models.breaker({ provider: 'openai', model: 'gpt-4o-mini' }).state()).toBe('open');

    const skipped = await job();
    expect(await models.forJob(skipped).chat({ messages: hi })).toMatchObject({ model: 'local', fallbackUsed: true });
    expect(fake.count()).toBe(5);
    const rows = await trace(skipped);
    expect(rows.map((r) => [r.provider, r.status, r.errorClass])).toEqual([
      ['openai', 'skipped', 'breaker_open'],
      ['local', 'ok', null],
    ]);

    fake.always(undefined);
    await new Promise((r) => setTimeout(r, 1_100));
    const probe = await job();
    expect(await models.forJob(probe).chat({ messages: hi })).toMatchObject({ model: 'openai:gpt-4o-mini', fallbackUsed: false });
    expect(await models.breaker({ provider: 'openai', model: 'gpt-4o-mini' }).state()).toBe('closed');
  });

  it('is shared by processes through Redis; half-open lets one probe through', async () => {
    const p = prefix();
    const opts = { failures: 5, openMs: 800 };
    const a = new SharedBreaker(redis, p, 'openai:m', opts);
    const b = new SharedBreaker(other, p, 'openai:m', opts);
    for (let i = 0; i < 4; i++) expect(await a.failure()).toBe('closed');
    expect((await b.allow()).allowed).toBe(true);
    expect(await b.failure()).toBe('open'); // the fifth, counted from the other process
    const denied = await a.allow();
    expect(denied).toMatchObject({ allowed: false, state: 'open' });
    expect(denied.retryInMs).toBeGreaterThan(500);

    await new Promise((r) => setTimeout(r, 850));
    expect(await b.allow()).toMatchObject({ allowed: true, state: 'half_open' });
    expect((await a.allow()).allowed).toBe(false); // the probe is in flight elsewhere
    await b.failure(); // the probe failed: open again
    expect((await a.allow()).allowed).toBe(false);

    await new Promise((r) => setTimeout(r, 850));
    expect(await a.allow()).toMatchObject({ allowed: true, state: 'half_open' });
    await a.success();
    expect(await b.allow()).toMatchObject({ allowed: true, state: 'closed' });
  });

  it('a half-open probe answered by a 429 closes the breaker: the provider is up', async () => {
    const { models, breaker } = await halfOpen(500);
    fake.always(undefined);
    fake.next({ status: 429, headers: { 'retry-after': '0' } });
    // The probe gets the 429 and falls back; the breaker does not stay half-open, held by it.
    expect(await models.forJob(await job()).chat({ messages: hi })).toMatchObject({ fallbackUsed: true });
    expect(await breaker.state()).toBe('closed');
    const before = fake.count();
    expect(await models.forJob(await job()).chat({ messages: hi })).toMatchObject({ model: 'openai:gpt-4o-mini' });
    expect(fake.count()).toBe(before + 1);
  });

  it('calls stopped by their jobs (worker shutdown, lease lost, job timeout) are not failures of the provider', async () => {
    const p = prefix();
    const models = await service({ SPOOL_MODEL_LIMITS: 'openai:gpt-4o-mini=5/0' }, p);
    const reasons = [
      new SpoolError('interrupted', 'the worker shut down', { retryable: true }),
      new SpoolError('lease_lost', 'another worker has taken this job over'),
      new SpoolError('timeout', 'the job ran longer than 600000 ms', { retryable: true }),
    ];
    // Six jobs, more than the breaker's threshold: five mid-request to a slow but healthy
    // provider, the sixth still waiting for the RPM limiter (its window holds five).
    const stops = Array.from({ length: 6 }, () => new AbortController());
    const scopes = await Promise.all(stops.map((c) => job(tenantId, c)));
    fake.always({ latencyMs: 1_000 });
    const calls = scopes.map((s) =>
      models
        .forJob(s)
        .chat({ messages: hi })
        .catch((err) => err),
    );
    await eventually('five requests in flight', async () => fake.count() === 5 || undefined);
    const reasonOf = (i: number) => reasons[i % reasons.length]!;
    for (const [i, c] of stops.entries()) c.abort(reasonOf(i));
    // Each job sees its own reason, and no row blames the provider.
    expect((await Promise.all(calls)).map((err) => err.code)).toEqual(stops.map((_, i) => reasonOf(i).code));
    for (const s of scopes) for (const row of await trace(s)) expect(row.errorClass).toBe('canceled');
    expect(await models.breaker({ provider: 'openai', model: 'gpt-4o-mini' }).state()).toBe('closed');
    expect(await redis.hget(`${p}:breaker:openai:gpt-4o-mini`, 'failures')).toBeNull();
    expect(fake.count()).toBe(5);
  });

  it('a half-open probe stopped by its job gives its slot back: the next call probes at once', async () => {
    const { models, breaker } = await halfOpen(300);
    fake.always({ latencyMs: 1_000 }); // up again, and slow: the probe is in flight when its job stops
    const stop = new AbortController();
    const probing = models
      .forJob(await job(tenantId, stop))
      .chat({ messages: hi })
      .catch((err) => err);
    await eventually('the probe in flight', async () => fake.count() === 6 || undefined);
    stop.abort(new SpoolError('interrupted', 'the worker shut down', { retryable: true }));
    expect((await probing).code).toBe('interrupted');
    // Held, the slot kept the model skipped for 30 s (the probe's own time limit).
    fake.always(undefined);
    expect(await models.forJob(await job()).chat({ messages: hi })).toMatchObject({
      model: 'openai:gpt-4o-mini',
      fallbackUsed: false,
    });
    expect(await breaker.state()).toBe('closed');
  });

  it('a success resets the count of consecutive failures', async () => {
    const b = new SharedBreaker(redis, prefix(), 'openai:m', { failures: 5, openMs: 1000 });
    for (let i = 0; i < 4; i++) await b.failure();
    await b.success();
    for (let i = 0; i < 4; i++) expect(await b.failure()).toBe('closed');
  });
});

describe('shared RPM/TPM admission', () => {
  it('holds a TPM limit across processes; reported usage corrects the reservation', async () => {
    const p = prefix();
    const signal = new AbortController().signal;
    const a = new SharedLimiter(redis, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    const b = new SharedLimiter(other, p, 'openai:m', { rpm: 0, tpm: 100 }, 1_000);
    const first = await a.admit(60, signal);
    expect(first.waitedMs).toBeLessThan(100);
    await a.settle(first, 10); // the provider reported 10: 50 tokens go back
    expect((await b.admit(60, signal)).waitedMs).toBeLessThan(100); // 70 of 100
    const started = Date.now();
    const third = await a.admit(60, signal); // 130 > 100: waits for the next window
    expect(third.waitedMs).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('a streamed try cut short counts its tokens against the TPM limit: the provider counted them', async () => {
    // 200 tokens a minute. The first call streams 50 of its 60 words and breaks (billed: the
    // prompt and 50). Given back in full, the second call's ~160 fitted at once.
    const models = await service({
      SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini',
      SPOOL_MODEL_LIMITS: 'openai:gpt-4o-mini=0/200',
      SPOOL_MODEL_RETRIES: '0',
    });
    fake.next({ content: Array(60).fill('word').join(' '), cutAfterChunks: 50 });
    await expect(models.forJob(await job()).chat({ messages: hi, maxTokens: 60, stream: true })).rejects.toThrow();
    const before = fake.count();
    const controller = new AbortController();
    const second = models.forJob(await job(tenantId, controller)).chat({ messages: hi, maxTokens: 150 });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(fake.count(), 'the second call went out within the minute').toBe(before);
    controller.abort(new SpoolError('canceled', 'test over'));
    await expect(second).rejects.toThrow();
  });

  it('holds an RPM limit across processes', async () => {
    const p = prefix();
    const signal = new AbortController().signal;
    const a = new SharedLimiter(redis, p, 'openai:m', { rpm: 2, tpm: 0 }, 1_000);
    const b = new SharedLimiter(other, p, 'openai:m', { rpm: 2, tpm: 0 }, 1_000);
    expect((await a.admit(1, signal)).waitedMs).toBeLessThan(100);
    expect((await b.admit(1, signal)).waitedMs).toBeLessThan(100);
    expect((await b.admit(1, signal)).waitedMs).toBeGreaterThanOrEqual(300);
  });

  it('a 429 seen by one process pauses the model for another', async () => {
    const p = prefix();
    const a = await service({}, p, redis);
    const b = await service({}, p, other);
    fake.next({ status: 429, headers: { 'retry-after': '1' } });
    const first = a.forJob(await job()).chat({ messages: hi });
    while (fake.count() < 1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    await b.forJob(await job()).chat({ messages: [{ role: 'user', content: 'from b' }] });
    await first;
    const rateLimited = fake.calls[0]!.at;
    const fromB = fake.calls.find((c) => c.body.messages[0].content === 'from b')!;
    expect(fromB.at - rateLimited).toBeGreaterThanOrEqual(950);
  });
});

describe('caches', () => {
  it('exact: temperature 0 answers the second identical call from Redis, per tenant', async () => {
    const models = await service();
    const call = { messages: [{ role: 'user' as const, content: 'cache me' }], temperature: 0 };
    const first = await models.forJob(await job()).chat(call);
    expect(first.cached).toBe(false);
    const scope = await job();
    const second = await models.forJob(scope).chat(call);
    expect(second).toMatchObject({ cached: 'exact', content: first.content, usage: { costUsd: 0 } });
    expect(fake.count()).toBe(1);
    expect((await trace(scope)).map((r) => [r.status, r.cacheLayer])).toEqual([['cached', 'exact']]);

    const otherTenant = (await createTenant(database.db, 'other')).id;
    expect((await models.forJob(await job(otherTenant)).chat(call)).cached).toBe(false);
    // Temperature above 0 is not cached unless asked for.
    await models.forJob(await job()).chat({ ...call, temperature: 0.7 });
    await models.forJob(await job()).chat({ ...call, temperature: 0.7 });
    expect(fake.count()).toBe(4);
  });

  it('semantic: a near-identical question is answered from the cache; another one is not', async () => {
    const models = await service();
    const a = await models
      .forJob(await job())
      .chat({ messages: [{ role: 'user', content: 'What is the capital of France?' }], cache: 'semantic' });
    expect(a.cached).toBe(false);
    const b = await models
      .forJob(await job())
      .chat({ messages: [{ role: 'user', content: 'what is the capital of france' }], cache: 'semantic' });
    expect(b).toMatchObject({ cached: 'semantic', content: a.content });
    const c = await models
      .forJob(await job())
      .chat({ messages: [{ role: 'user', content: 'How do I bake sourdough bread?' }], cache: 'semantic' });
    expect(c.cached).toBe(false);
    expect(fake.count()).toBe(2);
  });

  it('semantic: only the last question is compared by meaning; the conversation before it must match exactly', async () => {
    const models = await service();
    const contract = Array.from(
      { length: 60 },
      (_, i) => `Clause ${i}: the supplier shall deliver item ${i} within ${i + 3} days of the order.`,
    ).join(' ');
    const ask = async (question: string, document = contract) =>
      models.forJob(await job()).chat({
        messages: [
          { role: 'user', content: document },
          { role: 'assistant', content: 'I have read the contract.' },
          { role: 'user', content: question },
        ],
        cache: 'semantic',
      });
    expect((await ask('Who is the supplier?')).cached).toBe(false);
    // Another question about the same long document is not answered with the first one's answer.
    expect(await ask('Can the buyer terminate early?')).toMatchObject({
      cached: false,
      content: 'echo: Can the buyer terminate early?',
    });
    expect(await ask('who is the supplier')).toMatchObject({ cached: 'semantic', content: 'echo: Who is the supplier?' });
    // The same question about another document is asked again.
    expect((await ask('Who is the supplier?', contract.replace('item 0 ', 'item zero '))).cached).toBe(false);
    expect(fake.count()).toBe(3);
  });
});

describe('embeddings, budgets', () => {
  it('embeds through the openai provider, traced and priced', async () => {
    const models = await service({ SPOOL_EMBED_MODEL: 'openai:text-embedding-3-small' });
    const scope = await job();
    const out = await models.forJob(scope).embed(['one two', 'three'], { step: 'embed' });
    expect(out.vectors).toEqual([
      [0, 2, 1],
      [5, 1, 1],
    ]);
    expect(out.usage.inputTokens).toBe(3);
    expect((await trace(scope))[0]).toMatchObject({
      kind: 'embed',
      model: 'text-embedding-3-small',
      status: 'ok',
      inputTokens: 3,
    });
  });

  it('while a long 429 pause lasts, an embedding fails fast (retryable, with the wait) instead of sitting it out', async () => {
    const env = { SPOOL_EMBED_MODEL: 'openai:text-embedding-3-small', SPOOL_MODEL_MAX_RETRY_WAIT_MS: '5000' };
    const models = await service(env);
    fake.next({ status: 429, headers: { 'retry-after': '120' } });
    await expect(models.forJob(await job()).embed(['one'])).rejects.toMatchObject({ code: 'model_unavailable' });
    const started = Date.now();
    const err = await models
      .forJob(await job())
      .embed(['two'])
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toMatchObject({ code: 'model_unavailable', retryable: true });
    expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect(fake.count()).toBe(1);
  }, 15_000);

  it('an embedding call past the provider’s per-request token limit goes out as several requests, in order', async () => {
    const models = await service({ SPOOL_EMBED_MODEL: 'openai:text-embedding-3-small' });
    const scope = await job();
    // Four texts of about 100,000 tokens: one request would pass OpenAI's 300,000 (a 400).
    const texts = ['alpha', 'beta', 'gamma', 'delta'].map((w) => `${w} `.repeat(100_000));
    const out = await models.forJob(scope).embed(texts, { step: 'embed-1' });
    const requests = fake.calls.filter((c) => c.path.endsWith('embeddings')).map((c) => c.body.input as string[]);
    expect(requests.map((inputs) => inputs.length)).toEqual([2, 2]);
    expect(requests.flat()).toEqual(texts);
    expect(out.vectors).toHaveLength(4);
    const rows = await trace(scope);
    expect(rows.map((r) => [r.kind, r.status])).toEqual([
      ['embed', 'ok'],
      ['embed', 'ok'],
    ]);
    expect(out.usage.inputTokens).toBe(rows.reduce((n, r) => n + r.inputTokens, 0));
  }, 30_000);

  it('local embeddings are deterministic and need no network', async () => {
    const models = await service();
    const a = await models.forJob(await job()).embed(['same text']);
    const b = await models.forJob(await job()).embed(['same text']);
    expect(a.vectors).toEqual(b.vectors);
    expect(a.model).toBe('local');
    expect(fake.count()).toBe(0);
  });

  it('a paid call that would pass the daily cap fails with budget_exceeded, before any HTTP request', async () => {
    const tenant = (await createTenant(database.db, 'capped')).id;
    // $1,000 per 1M tokens ($0.001 a token) with a $0.02 cap: two short calls fit, the third does not.
    const models = await service({ SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/1000', SPOOL_TENANT_DAILY_BUDGET_USD: '0.02' });
    let answered = 0;
    let refused: unknown;
    for (let i = 0; i < 5 && !refused; i++) {
      await models
        .forJob(await job(tenant))
        .chat({ messages: hi, maxTokens: 1 })
        .then(
          () => answered++,
          (err) => (refused = err),
        );
    }
    expect(answered).toBe(2);
    expect(refused).toMatchObject({
      code: 'budget_exceeded',
      status: 402,
      retryable: false,
      details: { period: 'daily', capUsd: 0.02 },
    });
    expect(fake.count()).toBe(2);
  });

  it('streamed tries cut short and retried never spend past the cap: each retry must fit in what is left', async () => {
    const tenant = (await createTenant(database.db, 'cut-retries')).id;
    // $0.001 a token, a $0.03 cap; the estimate (prompt + maxTokens 20) is under $0.03 and
    // fits once. Each try is cut after 10 of 20 words and billed (prompt + 10 tokens): three
    // tries spent $0.057 when the estimate was held once for all of them.
    const models = await service({
      SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/1000',
      SPOOL_TENANT_DAILY_BUDGET_USD: '0.03',
      SPOOL_MODEL_RETRIES: '2',
      SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini',
    });
    fake.always({ content: Array(20).fill('the').join(' '), cutAfterChunks: 10 });
    const scope = await job(tenant);
    const before = fake.count();
    await expect(models.forJob(scope).chat({ messages: hi, maxTokens: 20, stream: true })).rejects.toMatchObject({
      code: 'budget_exceeded',
      retryable: false,
    });
    expect(fake.count() - before).toBe(1);
    const rows = await trace(scope);
    expect(rows.map((r) => [r.status, r.errorClass])).toEqual([['error', 'bad_response']]);
    expect(rows[0]!.costUsd).toBeGreaterThan(0);
    const [held] = await database.db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM budget_holds WHERE tenant_id = ${tenant}`,
    );
    expect(held!.n).toBe(0);
  });

  it('a billed cut stream with no try left, or no room for one, falls back to the next model of the chain', async () => {
    // With a cap of $0.03 the cut try ($0.018) leaves no room for another of the same model;
    // `local` is free and answers. With no retry left, nothing is held again at all.
    for (const retries of ['0', '2']) {
      const tenant = (await createTenant(database.db, `rehold-${retries}`)).id;
      const models = await service({
        SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/1000',
        SPOOL_TENANT_DAILY_BUDGET_USD: '0.03',
        SPOOL_MODEL_RETRIES: retries,
        SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini,local',
      });
      fake.next({ content: Array(20).fill('the').join(' '), cutAfterChunks: 10 });
      const out = await models.forJob(await job(tenant)).chat({ messages: hi, maxTokens: 20, stream: true });
      expect(out, `retries ${retries}`).toMatchObject({ model: 'local', fallbackUsed: true });
    }
  });

  it('an answer stopped by the content filter is priced as the provider billed it, plain or streamed', async () => {
    const models = await service({ SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/1000', SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini' });
    for (const stream of [false, true]) {
      fake.next({ finishReason: 'content_filter', usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 } });
      const scope = await job();
      await expect(models.forJob(scope).chat({ messages: hi, stream })).rejects.toMatchObject({ code: 'content_filter' });
      const rows = await trace(scope);
      expect(
        rows.map((r) => [r.status, r.errorClass]),
        `stream: ${stream}`,
      ).toEqual([['error', 'content_filter']]);
      expect(rows[0], `stream: ${stream}`).toMatchObject({ inputTokens: 1000, outputTokens: 500, costUsd: 1.5 });
    }
  });

  it("a call without maxTokens is estimated with a short reply's output tokens (256)", async () => {
    const tenant = (await createTenant(database.db, 'output-estimate')).id;
    // Output at $0.001 a token, input free, a $0.2 cap: 256 output tokens ($0.256) do not fit, 100 do.
    const models = await service({ SPOOL_MODEL_PRICES: 'gpt-4o-mini=0/1000', SPOOL_TENANT_DAILY_BUDGET_USD: '0.2' });
    const before = fake.count();
    await expect(models.forJob(await job(tenant)).chat({ messages: hi })).rejects.toMatchObject({ code: 'budget_exceeded' });
    expect(fake.count()).toBe(before);
    await models.forJob(await job(tenant)).chat({ messages: hi, maxTokens: 100 });
    expect(fake.count()).toBe(before + 1);
  });

  it('refuses a model the catalog does not offer before any request, and labels a snapshot by its price row', async () => {
    const models = await service();
    const before = fake.count();
    await expect(models.forJob(await job()).chat({ messages: hi, model: 'openai:gpt-unpriced' })).rejects.toMatchObject({
      code: 'unknown_model',
      retryable: false,
    });
    await expect(models.forJob(await job()).embed(['x'], { model: 'openai:embed-unpriced' })).rejects.toMatchObject({
      code: 'unknown_model',
    });
    expect(fake.count()).toBe(before);

    await models.forJob(await job()).chat({ messages: hi, model: 'openai:gpt-4o-mini-2024-07-18' });
    const series = (await modelRequests.get()).values.map((v) => v.labels.model);
    expect(series).toContain('gpt-4o-mini');
    expect(series).not.toContain('gpt-4o-mini-2024-07-18');
  });
});
