/**
 * Logs of a real run (API and worker in one process, pino writing to a stream the test reads):
 * every line is JSON; request lines carry the request id (the one the client saw) and the
 * tenant; job lines carry the job id and the attempt. What a tenant sent (chat messages, a
 * secret-looking input), its API key (as sent in Authorization), the admin token and the
 * tenant's webhook secret appear in no line, also when attempts fail and webhooks are retried.
 */
import { Writable } from 'node:stream';
import { createLogger } from '@spool/core/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from './support/stack.ts';

describe('logs', () => {
  let stack: Stack;
  const raw: string[] = [];
  const lines = () =>
    raw
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '');
  const records = () => lines().map((l) => JSON.parse(l) as Record<string, any>);

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        raw.push(String(chunk));
        done();
      },
    });
    // debug: the most a production operator would turn on.
    stack = await startStack({ log: createLogger('debug', stream) });
  });
  afterAll(() => stack?.close());

  it('carry request id, tenant, job id and attempt, and never a prompt, an input or a secret', async () => {
    const tenant = await stack.tenant('logs-tenant');
    const api = client(stack.url, tenant.apiKey);
    const prompt = 'my bank password is hunter2-PROMPT-7731';

    // A chat (messages are prompts), streaming tokens and delivering a webhook to a dead port.
    const chat = await api.submit({
      type: 'chat',
      input: {
        messages: [
          { role: 'system', content: 'be brief SYSTEM-9911' },
          { role: 'user', content: prompt },
        ],
        stream: true,
      },
      webhook: { url: 'http://127.0.0.1:9/hook' },
      metadata: { note: 'meta-ok' },
    });
    expect(chat.status).toBe(202);
    // A job that fails once and is retried: the worker logs both attempts.
    const flaky = await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 1, failAt: 1, failTimes: 1 } });
    expect(flaky.status).toBe(202);
    // A secret-looking input that fails validation: the 422 must not echo it into the logs.
    const bad = await api.submit({ type: 'debug-steps', input: { steps: 'sk-INPUT-SECRET-4242' } });
    expect(bad.status).toBe(422);
    // A wrong key in Authorization.
    const wrongKey = 'sk-WRONG-KEY-5151';
    expect((await client(stack.url, wrongKey).get(chat.body.id)).status).toBe(401);

    expect((await api.waitFor(chat.body.id)).status).toBe('completed');
    const flakyJob = await api.waitFor(flaky.body.id);
    expect(flakyJob).toMatchObject({ status: 'completed', attempts: 2 });
    // Let the webhook worker fail an attempt or two against the dead port.
    await new Promise((r) => setTimeout(r, 600));

    const all = lines();
    expect(all.length).toBeGreaterThan(5);
    const recs = records(); // every line parses as JSON
    // No key twice in a line (a child logger of a child used to repeat "module").
    for (const line of all) expect(line.match(/"module":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
    // The model layer's lines (the chat job above) say which module they come from.
    expect(recs.some((r) => r.module === 'models')).toBe(true);

    // Nothing sensitive, in any line.
    for (const leaked of [
      'hunter2-PROMPT-7731',
      'SYSTEM-9911',
      'sk-INPUT-SECRET-4242',
      tenant.apiKey,
      wrongKey,
      stack.adminToken,
      tenant.webhookSecret,
      tenant.webhookSecret.slice('whsec_'.length),
    ]) {
      expect(
        all.filter((l) => l.includes(leaked)),
        leaked,
      ).toEqual([]);
    }

    // The submit's request line: the request id the client got back, the tenant, the route pattern.
    const requestId = chat.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const submitLine = recs.find((r) => r.requestId === requestId);
    expect(submitLine).toMatchObject({ tenantId: tenant.id, route: '/v1/jobs', method: 'POST', status: 202, msg: 'request' });
    expect(typeof submitLine!.ms).toBe('number');
    // A per-job route names the job; the 401 line has no tenant.
    expect(recs.find((r) => r.route === '/v1/jobs/:id' && r.status === 200 && r.jobId === chat.body.id)).toMatchObject({
      tenantId: tenant.id,
    });
    expect(recs.find((r) => r.route === '/v1/jobs/:id' && r.status === 401)).toMatchObject({ jobId: chat.body.id });
    expect(recs.find((r) => r.route === '/v1/jobs/:id' && r.status === 401)?.tenantId).toBeUndefined();

    // Job lines: id, type and attempt — the failed first attempt and the completing second.
    const flakyLines = recs.filter((r) => r.jobId === flaky.body.id && r.attempt !== undefined);
    expect(flakyLines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ attempt: 1, type: 'debug-steps', msg: 'attempt failed; retry scheduled' }),
        expect.objectContaining({ attempt: 2, type: 'debug-steps', msg: 'job completed' }),
      ]),
    );
    expect(recs.find((r) => r.jobId === chat.body.id && r.msg === 'job completed')).toMatchObject({ attempt: 1, type: 'chat' });
  });
});
