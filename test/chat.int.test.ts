/**
 * The `chat` job type end to end: API → PostgreSQL → BullMQ → worker → the real `openai` SDK
 * against a fake OpenAI-compatible server on loopback. Result, usage on the job, the trace,
 * /v1/usage, the exact cache, streamed deltas over a real EventSource, structured output with
 * its repair, fallback, the token budget at submit, and spend caps.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.ts';
import { trackedEventSource, until } from './support/sse-client.ts';
import { client, type Stack, startStack } from './support/stack.ts';

// $1,000 / $2,000 per 1M tokens: $0.001 an input token, $0.002 an output token, easy to check.
const IN = 0.001;
const OUT = 0.002;

describe('chat jobs', () => {
  let fake: FakeOpenAI;
  let stack: Stack;
  let tenant: { id: string; apiKey: string };
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    stack = await startStack({
      env: {
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini,local',
        SPOOL_MODEL_RETRY_BASE_MS: '20',
        SPOOL_MODEL_RETRY_MAX_MS: '200',
        SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/2000',
      },
    });
    tenant = await stack.tenant('chat');
    api = client(stack.url, tenant.apiKey);
  });
  afterAll(async () => {
    await stack?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('runs end to end: result, usage on the job, the trace and /v1/usage', async () => {
    const res = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'hello there' }], promptVersion: 'greet-v1' },
    });
    expect(res.status).toBe(202);
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    // The fake counts words: prompt 2 + 4 framing, answer "echo: hello there" 3.
    const usage = { inputTokens: 6, outputTokens: 3, costUsd: 6 * IN + 3 * OUT };
    expect(job.result).toEqual({
      content: 'echo: hello there',
      model: 'openai:gpt-4o-mini',
      usage,
      cached: false,
      fallbackUsed: false,
    });
    expect(job.usage).toEqual(usage);
    expect(job.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([['complete', 'completed', 1]]);
    expect(fake.calls[0]!.body).toMatchObject({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello there' }] });

    const trace = await api.call('GET', `/v1/jobs/${job.id}/trace`);
    expect(trace.status).toBe(200);
    expect(trace.body.totals).toEqual({ calls: 1, ...usage });
    expect(trace.body.data).toEqual([
      expect.objectContaining({
        step: 'complete',
        attempt: 1,
        callTry: 1,
        kind: 'chat',
        provider: 'openai',
        model: 'gpt-4o-mini',
        promptVersion: 'greet-v1',
        status: 'ok',
        inputTokens: 6,
        outputTokens: 3,
        costUsd: usage.costUsd,
        cacheLayer: null,
        fallbackFrom: null,
        errorClass: null,
        injectionSuspected: false,
      }),
    ]);
    expect(trace.body.data[0].latencyMs).toBeGreaterThanOrEqual(0);

    const stranger = client(stack.url, (await stack.tenant('stranger')).apiKey);
    expect((await stranger.call('GET', `/v1/jobs/${job.id}/trace`)).status).toBe(404);

    const today = new Date().toISOString().slice(0, 10);
    const report = await api.call('GET', `/v1/usage?from=${today}&to=${today}`);
    expect(report.status).toBe(200);
    expect(report.body.data).toContainEqual(
      expect.objectContaining({
        day: today,
        type: 'chat',
        model: 'openai:gpt-4o-mini',
        calls: 1,
        inputTokens: 6,
        outputTokens: 3,
        costUsd: usage.costUsd,
      }),
    );
    expect(report.body.totals).toMatchObject({ calls: 1, costUsd: usage.costUsd });
    expect((await stranger.call('GET', '/v1/usage')).body.totals.calls).toBe(0);
    expect((await api.call('GET', '/v1/usage?from=2025-02-01&to=2025-01-01')).status).toBe(422);
    expect((await api.call('GET', '/v1/usage?from=yesterday')).status).toBe(422);
    // `to` alone asks for the month it ends in (it was a 422 about a `from` never sent).
    for (const [to, from] of [
      ['2025-01-31', '2025-01-01'],
      ['2025-02-01T00:00:00Z', '2025-01-01'],
    ]) {
      const res = await api.call('GET', `/v1/usage?to=${to}`);
      expect(res.status, to).toBe(200);
      expect(res.body.from, to).toBe(`${from}T00:00:00.000Z`);
    }
    // Strict dates: not a year 2000 read from `0`, not 2 March from 30 February, not a database
    // overflow past 9998, each a 422 that says what a date is.
    for (const bad of ['from=0&to=1', 'from=2026-02-30', 'from=9999-12-31&to=9999-12-31']) {
      const res = await api.call('GET', `/v1/usage?${bad}`);
      expect(res.status, bad).toBe(422);
      expect(res.body.error.message, bad).toMatch(/ISO 8601 date/);
    }
    // A date-time without an offset is UTC.
    const naive = await api.call('GET', '/v1/usage?from=2026-01-01T00:00&to=2026-01-02T00:00');
    expect(naive.body).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' });

    // One process here: the worker's model metrics are on the API's /metrics.
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/spool_model_requests_total\{provider="openai",model="gpt-4o-mini",kind="chat",outcome="ok"\} [1-9]/);
    expect(metrics).toMatch(/spool_model_tokens_total\{provider="openai",model="gpt-4o-mini",direction="input"\} [1-9]/);
    expect(metrics).toContain('spool_model_latency_seconds_bucket');
  });

  it('answers a second identical job at temperature 0 from the exact cache, with no HTTP call', async () => {
    const input = { messages: [{ role: 'user', content: 'cache this answer' }], temperature: 0 };
    const first = await api.waitFor((await api.submit({ type: 'chat', input })).body.id);
    expect(first.result.cached).toBe(false);
    expect(fake.count('chat/completions')).toBe(1);
    const second = await api.waitFor((await api.submit({ type: 'chat', input })).body.id);
    expect(second.status).toBe('completed');
    expect(second.result).toMatchObject({
      content: first.result.content,
      cached: 'exact',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    });
    expect(fake.count('chat/completions')).toBe(1);
    const trace = await api.call('GET', `/v1/jobs/${second.id}/trace`);
    expect(trace.body.data.map((r: any) => [r.status, r.cacheLayer, r.costUsd])).toEqual([['cached', 'exact', 0]]);
  });

  it('streams deltas over a real EventSource, each with the attempt number', async () => {
    fake.chunkDelayMs = 40;
    const res = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'one two three four five six' }], stream: true },
    });
    const t = trackedEventSource(`${stack.url}/v1/jobs/${res.body.id}/events`, tenant.apiKey);
    try {
      await until(() => t.received.find((e) => e.event === 'completed'), 30_000, 'the completed event');
    } finally {
      t.es.close();
    }
    const deltas = t.received.filter((e) => e.event === 'delta');
    expect(deltas.map((e) => e.data.text).join('')).toBe('echo: one two three four five six');
    expect(deltas.length).toBeGreaterThanOrEqual(7);
    expect(deltas.every((e) => e.data.attempt === 1)).toBe(true);
    const ids = t.received.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const completed = t.received.find((e) => e.event === 'completed')!;
    expect(deltas.every((e) => e.id < completed.id)).toBe(true);
    expect(completed.data.result.content).toBe('echo: one two three four five six');
    expect(fake.calls[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  const schema = {
    type: 'object',
    properties: { city: { type: 'string' }, population: { type: 'integer' } },
    required: ['city', 'population'],
    additionalProperties: false,
  };

  it('validates structured output and repairs it once', async () => {
    fake.next(
      { content: 'Paris, about 2.1 million people' },
      { content: '```json\n{"city": "Paris", "population": 2100000}\n```' },
    );
    const res = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'Largest city of France?' }], responseSchema: schema },
    });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    expect(job.result.object).toEqual({ city: 'Paris', population: 2100000 });
    expect(job.result.content).toBeUndefined();
    expect(job.steps.map((s: any) => s.name)).toEqual(['complete', 'repair']);
    expect(fake.calls[0]!.body.response_format).toMatchObject({ type: 'json_schema', json_schema: { schema } });
    const repairAsk = fake.calls[1]!.body.messages;
    expect(repairAsk.at(-2)).toEqual({ role: 'assistant', content: 'Paris, about 2.1 million people' });
    expect(repairAsk.at(-1).content).toMatch(/did not satisfy the required JSON Schema/);
    const trace = await api.call('GET', `/v1/jobs/${job.id}/trace`);
    expect(trace.body.data.map((r: any) => [r.step, r.status])).toEqual([
      ['complete', 'ok'],
      ['repair', 'ok'],
    ]);
    expect(job.usage.costUsd).toBeCloseTo(trace.body.totals.costUsd, 8);
    expect(job.result.usage.costUsd).toBeCloseTo(trace.body.totals.costUsd, 8);
  });

  it('caches only a structured answer that fits its schema (an invalid one made every identical job repair again)', async () => {
    const input = { messages: [{ role: 'user', content: 'Largest city of Spain?' }], responseSchema: schema, temperature: 0 };
    fake.next({ content: 'Madrid' }, { content: '{"city": "Madrid", "population": 3300000}' });
    const first = await api.waitFor((await api.submit({ type: 'chat', input })).body.id);
    expect(first.steps.map((s: any) => s.name)).toEqual(['complete', 'repair']);
    // The same job again: the invalid first answer was not cached, so the model is asked again.
    fake.next({ content: '{"city": "Madrid", "population": 3300000}' });
    const second = await api.waitFor((await api.submit({ type: 'chat', input })).body.id);
    expect(second).toMatchObject({ status: 'completed', result: { cached: false, object: { city: 'Madrid' } } });
    expect(second.steps.map((s: any) => s.name)).toEqual(['complete']);
    // That answer was valid: the third job is served from the cache, with no call.
    const calls = fake.calls.length;
    const third = await api.waitFor((await api.submit({ type: 'chat', input })).body.id);
    expect(third).toMatchObject({ status: 'completed', result: { cached: 'exact', object: { city: 'Madrid' } } });
    expect(fake.calls.length).toBe(calls);
  });

  it('fails with output_validation_failed when the repair is invalid too (no retry)', async () => {
    fake.next({ content: 'no json here' }, { content: '{"city": "Paris"}' });
    const res = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'Largest city?' }], responseSchema: schema },
    });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('failed');
    expect(job.error).toMatchObject({ code: 'output_validation_failed', retryable: false });
    expect(job.attempts).toBe(1);
  });

  it('refuses a responseSchema that is not JSON Schema at submit', async () => {
    const res = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'x' }], responseSchema: { type: 'banana' } },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/responseSchema: not a valid JSON Schema/);
  });

  it('refuses a responseSchema too large to compile quickly, and answers one asking for too much by failing it', async () => {
    const properties = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`p${i}`, { type: 'string' }]));
    const large = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'x' }], responseSchema: { type: 'object', properties } },
    });
    expect(large.status).toBe(422);
    expect(large.body.error.message).toMatch(/responseSchema: a responseSchema may hold at most 500 objects/);
    // Small, but asking for a billion items: the local provider's answer stops short of it.
    const res = await api.submit({
      type: 'chat',
      input: {
        messages: [{ role: 'user', content: 'x' }],
        model: 'local',
        cache: 'off',
        responseSchema: { type: 'array', minItems: 1_000_000_000, items: { type: 'string' } },
      },
    });
    expect(res.status).toBe(202);
    const job = await api.waitFor(res.body.id, undefined, 15_000);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'output_validation_failed' } });
  });

  it('checks a tenant’s pattern in linear time: a catastrophic regex cannot block the worker', async () => {
    // With V8's backtracking engine this check takes about 2^36 steps (hours): the worker's
    // event loop, and every tenant's jobs, would stop. Under RE2 it fails at once, as it should.
    const res = await api.submit({
      type: 'chat',
      input: {
        messages: [{ role: 'user', content: `${'a'.repeat(36)}!` }],
        model: 'local',
        cache: 'off',
        responseSchema: { type: 'string', pattern: '^(a+)+$' },
      },
    });
    expect(res.status).toBe(202);
    const job = await api.waitFor(res.body.id, undefined, 15_000);
    expect(job).toMatchObject({ status: 'failed', error: { code: 'output_validation_failed' } });
    // Lookaround and backreferences have no linear-time form: refused at submit, with the reason.
    const lookahead = await api.submit({
      type: 'chat',
      input: { messages: [{ role: 'user', content: 'x' }], responseSchema: { type: 'string', pattern: '^(?=a)' } },
    });
    expect(lookahead.status).toBe(422);
    expect(lookahead.body.error.message).toMatch(/responseSchema: not a valid JSON Schema: .*unsupported Perl syntax/);
  });

  it('refuses a model of an unknown provider at submit (it used to fail three attempts later)', async () => {
    const res = await api.submit({ type: 'chat', input: { messages: [{ role: 'user', content: 'x' }], model: 'nope:nope' } });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([
      { path: ['input', 'model'], message: expect.stringMatching(/unknown provider "nope"/) },
    ]);
    // Every type that names a model checks it the same way.
    const summarize = await api.submit({ type: 'summarize', input: { text: 'hello there', model: 'bogus:zzz' } });
    expect(summarize.status).toBe(422);
    expect(summarize.body.error.details[0].path).toEqual(['input', 'model']);
    // Known references pass (delayed and canceled: they must not run and spend in this suite).
    for (const model of ['local', 'openai:gpt-4o-mini', 'gpt-4o-mini']) {
      const ok = await api.submit({
        type: 'chat',
        input: { messages: [{ role: 'user', content: 'x' }], model },
        delayMs: 3_600_000,
      });
      expect(ok.status, model).toBe(202);
      expect((await api.call('POST', `/v1/jobs/${ok.body.id}/cancel`)).status).toBe(200);
    }
  });

  it('refuses a model the operator neither configured nor priced (it would run free of every cap)', async () => {
    const messages = [{ role: 'user', content: 'x' }];
    const listed = async () => (await api.call('GET', '/v1/jobs?limit=100')).body.data.length;
    const before = await listed();
    const res = await api.submit({ type: 'chat', input: { messages, model: 'openai:gpt-unpriced' } });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'unknown_model', details: { model: 'openai:gpt-unpriced' } });
    expect(res.body.error.details.offered).toContain('openai:gpt-4o-mini');
    const batch = await api.call('POST', '/v1/jobs/batch', {
      jobs: [
        { type: 'chat', input: { messages } },
        { type: 'summarize', input: { text: 'hello', model: 'local:anything' } },
      ],
    });
    expect(batch.status).toBe(422);
    expect(batch.body.error.message).toMatch(/^jobs\[1\]: model "local:anything" is not offered here/);
    expect(await listed()).toBe(before); // the batch's valid first job was not written either
  });

  it('falls back to local when the provider keeps failing, and says so', async () => {
    fake.always({ status: 503 });
    const res = await api.submit({
      type: 'chat',
      input: {
        messages: [
          { role: 'system', content: 'Spool runs jobs. Bread needs flour.' },
          { role: 'user', content: 'What does Spool run?' },
        ],
      },
    });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    expect(job.result).toMatchObject({ content: 'Spool runs jobs.', model: 'local', fallbackUsed: true, usage: { costUsd: 0 } });
    const trace = await api.call('GET', `/v1/jobs/${job.id}/trace`);
    expect(trace.body.data.map((r: any) => [r.provider, r.status, r.errorClass, r.fallbackFrom])).toEqual([
      ['openai', 'error', 'server', null],
      ['openai', 'error', 'server', null],
      ['openai', 'error', 'server', null],
      ['local', 'ok', null, 'openai:gpt-4o-mini'],
    ]);
  });

  it('checks the token budget at submit: 413 with the counts', async () => {
    const res = await api.submit({ type: 'chat', input: { messages: [{ role: 'user', content: 'token '.repeat(130_000) }] } });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'token_budget_exceeded', details: { budget: 128_000 } });
    expect(res.body.error.details.tokens).toBeGreaterThan(128_000);
  });

  it('spend caps: a job that would pass one fails with budget_exceeded; a used-up cap refuses the submit (402)', async () => {
    const capped = await stack.tenant('capped');
    const capi = client(stack.url, capped.apiKey);
    const input = { messages: [{ role: 'user', content: 'hello' }] };
    // The first job spends (1 + 4) × $0.001 + 2 × $0.002 = $0.009.
    const first = await capi.waitFor((await capi.submit({ type: 'chat', input })).body.id);
    expect(first.usage.costUsd).toBeCloseTo(0.009, 8);

    // A $0.015 cap: not used up, so the submit is taken; the call's estimate ($0.008) would pass it.
    let put = await admin('PUT', `/v1/admin/tenants/${capped.id}/budget`, { dailyUsd: 0.015 });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({
      tenantId: capped.id,
      dailyUsd: 0.015,
      monthlyUsd: null,
      spent: { todayUsd: 0.009 },
    });
    const calls = fake.count();
    const second = await capi.waitFor((await capi.submit({ type: 'chat', input })).body.id);
    expect(second.status).toBe('failed');
    expect(second.error).toMatchObject({ code: 'budget_exceeded', retryable: false });
    expect(second.attempts).toBe(1);
    expect(fake.count()).toBe(calls);

    // A $0.005 cap is used up already: the submit itself is refused.
    put = await admin('PUT', `/v1/admin/tenants/${capped.id}/budget`, { dailyUsd: 0.005 });
    expect(put.status).toBe(200);
    const refused = await capi.submit({ type: 'chat', input });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({
      code: 'budget_exceeded',
      details: { period: 'daily', capUsd: 0.005, spentUsd: 0.009, resetsAt: expect.any(String) },
    });
    expect(refused.body.error.message).toMatch(/daily spend cap/);
    // Other types (no model calls) are not refused; nor are other tenants.
    expect((await capi.submit({ type: 'debug-steps', input: { steps: 1 } })).status).toBe(202);
    expect((await api.submit({ type: 'chat', input })).status).toBe(202);

    expect((await admin('PUT', '/v1/admin/tenants/nope/budget', { dailyUsd: 1 })).status).toBe(404);
    // A PUT naming no cap, or with no body at all, is refused and changes nothing (with no body
    // the validator read `{}`, and both caps went back to the defaults, answered 200).
    const budgetUrl = `${stack.url}/v1/admin/tenants/${capped.id}/budget`;
    const adminAuth = { authorization: `Bearer ${stack.adminToken}` };
    for (const empty of [
      await fetch(budgetUrl, { method: 'PUT', headers: adminAuth }),
      await admin('PUT', budgetUrl.slice(stack.url.length), {}),
    ]) {
      expect(empty.status).toBe(422);
      expect((await empty.json()).error.message).toMatch(/dailyUsd, monthlyUsd or both/);
    }
    expect(await fetch(budgetUrl, { headers: adminAuth }).then((r) => r.json())).toMatchObject({ dailyUsd: 0.005 });
    const tenantKey = await fetch(`${stack.url}/v1/admin/tenants/${capped.id}/budget`, {
      headers: { authorization: `Bearer ${capped.apiKey}` },
    });
    expect(tenantKey.status).toBe(403);

    // The column keeps 8 digits before the point and 6 after: a cap it cannot hold is refused
    // with a message that says so (it was a 422 about "not valid text"), and a positive cap
    // under a millionth is not rounded to 0, which would mean "nothing may be spent".
    const capAt = async (dailyUsd: number) => {
      const res = await admin('PUT', `/v1/admin/tenants/${capped.id}/budget`, { dailyUsd });
      return { status: res.status, body: await res.json() };
    };
    expect(await capAt(99_999_999)).toMatchObject({ status: 200, body: { dailyUsd: 99_999_999 } });
    for (const tooLarge of [1e8, 5e8, 1e9]) {
      expect(await capAt(tooLarge)).toMatchObject({ status: 422, body: { error: { code: 'validation_failed' } } });
    }
    expect((await capAt(1e8)).body.error.message).toMatch(/at most 99,999,999/);
    expect(await capAt(0.0000001)).toMatchObject({
      status: 422,
      body: { error: { message: expect.stringMatching(/6 decimals/) } },
    });
    expect(await capAt(0.000001)).toMatchObject({ status: 200, body: { dailyUsd: 0.000001 } });

    // A misspelt field is refused: PUT sets both caps, and a body whose only field went
    // unrecognised used to put both back to the defaults with a 200.
    const typo = await admin('PUT', `/v1/admin/tenants/${capped.id}/budget`, { daily: 5 });
    expect(typo.status).toBe(422);
    expect((await typo.json()).error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/daily/) });
    expect((await (await admin('GET', `/v1/admin/tenants/${capped.id}/budget`)).json()).dailyUsd).toBe(0.000001);
  });
});
