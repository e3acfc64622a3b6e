/**
 * Bad input contract: 400 malformed JSON, 413 too large, 415 not JSON, 422 unknown type or
 * schema mismatch (with the zod issues), never a 5xx and never a stack trace, even for input
 * PostgreSQL cannot store (NUL characters, unpaired surrogates, deep nesting) or a burst of
 * garbage; the server still works afterwards.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectError, expectNoStackTrace, jsonHeaders, type RawResponse, request } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const LIMIT = 64 * 1024;
const valid = { type: 'debug-steps', input: { steps: 1 } };

describe('API bad input', () => {
  let stack: Stack;
  let key: string;
  const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    request(stack.url, path, { method: 'POST', headers: { ...jsonHeaders(key), ...headers }, body });
  const submitJson = (body: unknown, headers?: Record<string, string>) => post('/v1/jobs', JSON.stringify(body), headers);

  beforeAll(async () => {
    stack = await startStack({ worker: false, bodyLimitBytes: LIMIT });
    key = (await stack.tenant('bad-input')).apiKey;
  });
  afterAll(() => stack?.close());

  it('400 invalid_json for malformed JSON', async () => {
    for (const body of ['{"type":', '{type: "debug-steps"}', "{'a':1}", '{"a":1,}', 'undefined', '{"a":1}}', '\u0000', '']) {
      expectError(await post('/v1/jobs', body), 400, 'invalid_json');
    }
    expectError(await post('/v1/jobs/batch', '{"jobs":[{]}'), 400, 'invalid_json');
    expectError(
      await request(stack.url, '/v1/admin/tenants', { method: 'POST', headers: jsonHeaders(stack.adminToken), body: '{"name":' }),
      400,
      'invalid_json',
    );
  });

  it('null means "not set" for the optional fields, as the job object shows them', async () => {
    const res = await submitJson({ ...valid, priority: null, delayMs: null, webhook: null, metadata: null });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'queued', priority: null, webhook: null });
  });

  it('a request that is not valid HTTP gets the error envelope and an x-request-id, not a bare 400', async () => {
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const { port } = new URL(stack.url);
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(text));
        let got = '';
        socket.on('data', (c) => {
          got += c.toString();
        });
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
      });
    const parse = (response: string) => {
      const [head, body] = response.split('\r\n\r\n');
      return { status: Number(head!.split(' ')[1]), head: head!.toLowerCase(), body: JSON.parse(body!) };
    };
    for (const request of [
      'GET /v1/jobs HTTP/1.1\r\nHost: x\r\nNot a header line\r\n\r\n',
      'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      // Parsed by node:http, but no URL can be made of them.
      'GET /v1\\jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET /v1/jobs HTTP/1.1\r\nHost: bad host\r\nConnection: close\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]) {
      const res = parse(await raw(request));
      expect(res.status).toBe(400);
      expect(res.head).toMatch(/\r\nx-request-id: [0-9a-f-]{36}/);
      expect(res.body).toEqual({ error: { code: 'bad_request', message: expect.any(String), details: null } });
    }
    const huge = parse(await raw(`GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(huge.status).toBe(431);
    expect(huge.body.error.code).toBe('headers_too_large');
  });

  it('422 for JSON that is not a submit request', async () => {
    for (const body of ['null', '[]', '"debug-steps"', '42', 'true', '{}']) {
      const e = expectError(await post('/v1/jobs', body), 422, 'validation_failed');
      expect(Array.isArray(e.details)).toBe(true);
    }
  });

  it('422 unknown_job_type for a type that does not exist', async () => {
    const e = expectError(await submitJson({ type: 'no-such-type', input: {} }), 422, 'unknown_job_type');
    expect(e.message).toContain('no-such-type');
    expect(e.details).toEqual([{ path: ['type'], message: expect.stringContaining('no-such-type') }]);
  });

  it('422 validation_failed with the zod issues when the input does not match the schema', async () => {
    const e = expectError(
      await submitJson({ type: 'debug-steps', input: { steps: 'three', stepMs: -5 } }),
      422,
      'validation_failed',
    );
    expect(e.details).toEqual(
      expect.arrayContaining([
        { path: ['input', 'steps'], message: expect.stringMatching(/expected number/) },
        { path: ['input', 'stepMs'], message: expect.any(String) },
      ]),
    );
    expect(e.message).toMatch(/^input\.steps: /);

    const missing = expectError(await submitJson({ type: 'debug-steps', input: {} }), 422, 'validation_failed');
    expect(missing.details).toEqual([{ path: ['input', 'steps'], message: expect.any(String) }]);
    const pastLast = expectError(await submitJson({ type: 'debug-steps', input: { steps: 2, failAt: 3 } }), 422);
    expect(pastLast.details).toEqual([{ path: ['input', 'failAt'], message: 'failAt names a step past the last one' }]);
    const noInput = expectError(await submitJson({ type: 'debug-steps' }), 422, 'validation_failed');
    // Said plainly (it was zod's "expected nonoptional, received undefined").
    expect(noInput.details).toEqual([{ path: ['input'], message: expect.stringMatching(/^input is required/) }]);
  });

  it('422 for wrong types of the request fields', async () => {
    const cases: [unknown, string][] = [
      [{ ...valid, type: 42 }, 'type'],
      [{ ...valid, type: '' }, 'type'],
      [{ ...valid, priority: 'high' }, 'priority'],
      [{ ...valid, priority: 1.5 }, 'priority'],
      [{ ...valid, priority: 0 }, 'priority'],
      [{ ...valid, delayMs: -1 }, 'delayMs'],
      [{ ...valid, delayMs: 1e30 }, 'delayMs'],
      [{ ...valid, webhook: { url: 'not a url' } }, 'webhook'],
      [{ ...valid, webhook: 'https://example.com' }, 'webhook'],
      [{ ...valid, metadata: [1, 2] }, 'metadata'],
      [{ ...valid, metadata: 'x' }, 'metadata'],
      [{ ...valid, idempotencyKey: '' }, 'idempotencyKey'],
      [{ ...valid, idempotencyKey: 'k'.repeat(256) }, 'idempotencyKey'],
      [{ ...valid, idempotencyKey: 7 }, 'idempotencyKey'],
    ];
    for (const [body, field] of cases) {
      const e = expectError(await submitJson(body), 422, 'validation_failed');
      expect((e.details as { path: unknown[] }[]).map((d) => d.path[0])).toContain(field);
    }
  });

  it('PUT /v1/webhook: 422 validation_failed in the same shape as every other route ("field: message", {path, message} issues)', async () => {
    const put = (body: string) => request(stack.url, '/v1/webhook', { method: 'PUT', headers: jsonHeaders(key), body });
    const cases: [string, unknown[], RegExp][] = [
      ['{}', ['url'], /^url: .*expected string/],
      ['{"url":5}', ['url'], /^url: .*expected string/],
      ['{"url":"not a url"}', ['url'], /^url: Invalid URL$/],
      ['[]', [], /^body: .*expected object/],
    ];
    for (const [body, path, message] of cases) {
      const e = expectError(await put(body), 422, 'validation_failed');
      expect(e.message).toMatch(message);
      expect(e.details).toEqual([{ path, message: expect.any(String) }]);
    }
  });

  it('422 when the Idempotency-Key header breaks the rules of the idempotencyKey field', async () => {
    // The header must be held to the body field's limits: before, any length reached PostgreSQL.
    const e = expectError(await submitJson(valid, { 'idempotency-key': 'k'.repeat(256) }), 422, 'validation_failed');
    expect(JSON.stringify(e.details)).toContain('idempotency-key');
    const random = Array.from({ length: 4000 }, () => Math.random().toString(36).slice(2, 3)).join('');
    expectError(await submitJson(valid, { 'idempotency-key': random }), 422, 'validation_failed');
    expect((await submitJson(valid, { 'idempotency-key': 'k'.repeat(255) })).status).toBe(202);
  });

  it('413 payload_too_large past the body limit, with or without Content-Length', async () => {
    const big = JSON.stringify({ ...valid, metadata: { pad: 'x'.repeat(LIMIT) } });
    const e = expectError(await post('/v1/jobs', big), 413, 'payload_too_large');
    expect(e.message).toContain(String(LIMIT));

    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode(i === 0 ? big.slice(0, 1000) : 'x'.repeat(LIMIT / 2)));
        c.close();
      },
    });
    const streamed = await request(stack.url, '/v1/jobs', {
      method: 'POST',
      headers: jsonHeaders(key),
      body: chunked,
      duplex: 'half',
    } as RequestInit);
    expectError(streamed, 413, 'payload_too_large');

    const batch = JSON.stringify({
      jobs: Array.from({ length: 1000 }, () => ({ ...valid, metadata: { pad: 'y'.repeat(100) } })),
    });
    expect(batch.length).toBeGreaterThan(LIMIT);
    expectError(await post('/v1/jobs/batch', batch), 413, 'payload_too_large');

    // Just under the limit is fine.
    const fits = JSON.stringify({ ...valid, metadata: { pad: 'z'.repeat(LIMIT - 200) } });
    expect(fits.length).toBeLessThan(LIMIT);
    expect((await post('/v1/jobs', fits)).status).toBe(202);
  });

  it('415 unsupported_media_type for a non-empty body that is not JSON', async () => {
    const body = JSON.stringify(valid);
    for (const type of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
    ]) {
      expectError(await post('/v1/jobs', body, { 'content-type': type }), 415, 'unsupported_media_type');
    }
    // fetch sends a string body as text/plain when no type is given; bytes go without any type.
    expectError(
      await request(stack.url, '/v1/jobs', { method: 'POST', headers: bearer(key), body }),
      415,
      'unsupported_media_type',
    );
    expectError(
      await request(stack.url, '/v1/jobs', { method: 'POST', headers: bearer(key), body: new TextEncoder().encode(body) }),
      415,
      'unsupported_media_type',
    );
    expectError(await post('/v1/jobs/batch', JSON.stringify({ jobs: [valid] }), { 'content-type': 'text/plain' }), 415);
    // Routes that take no body still refuse a non-JSON one.
    const job = (await submitJson(valid)).body;
    expectError(
      await post(`/v1/jobs/${job.id}/cancel`, 'please', { 'content-type': 'text/plain' }),
      415,
      'unsupported_media_type',
    );

    // JSON with parameters or a +json suffix is JSON.
    expect((await post('/v1/jobs', body, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(202);
    expect((await post('/v1/jobs', body, { 'content-type': 'Application/JSON' })).status).toBe(202);
    // Body-less POSTs need no content type.
    expect((await request(stack.url, `/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: bearer(key) })).status).toBe(200);
    // An empty body's type says nothing: no 415, the same answer as with no type at all.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const noType = await request(stack.url, '/v1/jobs', { method: 'POST', headers: bearer(key) });
      const typed = await post('/v1/jobs', '', { 'content-type': type });
      expect(typed.status, type).toBe(noType.status);
      expect(typed.body.error.code, type).toBe(noType.body.error.code);
      expect(typed.status).toBe(422);
    }
    const tenantId = (
      await request(stack.url, '/v1/admin/tenants', {
        method: 'POST',
        headers: jsonHeaders(stack.adminToken),
        body: JSON.stringify({ name: 'empty-body' }),
      })
    ).body.id;
    const issued = await request(stack.url, `/v1/admin/tenants/${tenantId}/api-keys`, {
      method: 'POST',
      headers: { ...bearer(stack.adminToken), 'content-type': 'text/plain' },
      body: '',
    });
    expect(issued.status).toBe(201);
  });

  it('bad ids and queries: 404 or 422, never 5xx', async () => {
    const api = client(stack.url, key);
    expectError(await request(stack.url, '/v1/jobs/no-such-job', { headers: bearer(key) }), 404, 'not_found');
    for (const id of ['x'.repeat(65), 'x'.repeat(5000)]) {
      const res = await request(stack.url, `/v1/jobs/${id}`, { headers: bearer(key) });
      expectError(res, 422, 'validation_failed');
      expectError(
        await request(stack.url, `/v1/jobs/${id}/cancel`, { method: 'POST', headers: bearer(key) }),
        422,
        'validation_failed',
      );
      expectError(
        await request(stack.url, `/v1/jobs/${id}/retry`, { method: 'POST', headers: bearer(key) }),
        422,
        'validation_failed',
      );
      for (const path of ['events', 'webhooks']) {
        const res = await request(stack.url, `/v1/jobs/${id}/${path}`, { headers: bearer(key) });
        expect(expectError(res, 422, 'validation_failed').message).toBe('id: Too big: expected string to have <=64 characters');
      }
      const redeliver = await request(stack.url, `/v1/jobs/${id}/webhooks/redeliver`, { method: 'POST', headers: bearer(key) });
      expectError(redeliver, 422, 'validation_failed');
    }
    for (const id of ['%2e%2e', "'%20OR%201=1--", '%F0%9F%92%A9', '%ff%fe']) {
      const res = await request(stack.url, `/v1/jobs/${id}`, { headers: bearer(key) });
      expectError(res, 404, 'not_found');
    }
    for (const q of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=-1',
      'limit=1.5',
      // A number coercion read these as 16, 10 and 5.
      'limit=0x10',
      'limit=1e1',
      'limit=%205',
      'status=done',
      `cursor=${'c'.repeat(65)}`,
      // Not a nextCursor: it used to restart the list from the top without a word.
      'cursor=garbage',
      'cursor=0190aaaa-0000-7000-8000-00000000000G',
      `type=${'t'.repeat(101)}`,
    ]) {
      expectError(await request(stack.url, `/v1/jobs?${q}`, { headers: bearer(key) }), 422, 'validation_failed');
    }
    // An empty value is not given (SPEC writes the query as `?status=&type=&limit=&cursor=`).
    for (const q of ['type=no-such-type', 'cursor=', 'limit=100', 'status=', 'limit=', 'status=&type=&limit=&cursor=']) {
      const res = await api.call('GET', `/v1/jobs?${q}`);
      expect(res.status).toBe(200);
    }
    expectError(await request(stack.url, '/v1/jobs/x/events?after=abc', { headers: bearer(key) }), 400, 'invalid_event_id');
    expectError(await request(stack.url, '/v1/schedules?limit=1e1', { headers: bearer(key) }), 422, 'validation_failed');
    expect((await api.call('GET', '/v1/usage?from=&to=')).status).toBe(200);
  });

  it('a job id is found whatever the case of its hex digits (UUIDs are case-insensitive)', async () => {
    const api = client(stack.url, key);
    const { id } = (await api.call('POST', '/v1/jobs', valid)).body;
    const upper = String(id).toUpperCase();
    expect(upper).not.toBe(id);
    const got = await api.call('GET', `/v1/jobs/${upper}`);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(id);
    expect((await api.call('GET', `/v1/jobs/${upper}/webhooks`)).body).toEqual({ data: [], nextCursor: null });
    const events = await fetch(`${stack.url}/v1/jobs/${upper}/events?after=0`, {
      headers: { ...bearer(key), accept: 'text/event-stream' },
    });
    expect(events.status).toBe(200);
    await events.body?.cancel();
  });

  it('422, not 500, for values PostgreSQL cannot store: NUL characters, unpaired surrogates', async () => {
    const bodies = [
      JSON.stringify({ ...valid, metadata: { note: 'a\u0000b' } }),
      JSON.stringify({ ...valid, metadata: { 'k\u0000': 1 } }),
      JSON.stringify({ ...valid, idempotencyKey: 'a\u0000b' }),
      JSON.stringify({ ...valid, webhook: { url: 'https://example.com/\u0000' } }),
      '{"type":"debug-steps","input":{"steps":1},"metadata":{"x":"\\ud800"}}',
      '{"type":"debug-steps","input":{"steps":1},"metadata":{"x":"\\udc00x"}}',
      '{"type":"debug-steps","input":{"steps":1,"extra":"\\u0000"}}',
      // Read as Infinity and written as null: refused rather than changed.
      '{"type":"debug-steps","input":{"steps":1},"metadata":{"x":1e400}}',
    ];
    for (const body of bodies) {
      const res = await post('/v1/jobs', body);
      expect(res.status, res.text).toBeLessThan(500);
      expectError(res, 422);
    }
    const batch = await post('/v1/jobs/batch', JSON.stringify({ jobs: [valid, { ...valid, metadata: { x: '\u0000' } }] }));
    const e = expectError(batch, 422, 'validation_failed');
    expect(e.details).toEqual([expect.objectContaining({ index: 1 })]);

    // Path and query values too.
    for (const path of ['/v1/jobs/a%00b', '/v1/jobs/a%00b/events', '/v1/jobs?cursor=%00', '/v1/jobs?type=a%00']) {
      const res = await request(stack.url, path, { headers: bearer(key) });
      expect(res.status, `${path}: ${res.text}`).toBeLessThan(500);
      expectError(res, 422, 'validation_failed');
    }
    for (const path of ['/v1/jobs/a%00b/cancel', '/v1/jobs/a%00b/retry']) {
      const res = await request(stack.url, path, { method: 'POST', headers: bearer(key) });
      expect(res.status, `${path}: ${res.text}`).toBeLessThan(500);
      expectError(res, 422, 'validation_failed');
    }
    const admin = jsonHeaders(stack.adminToken);
    const tenantId = (await stack.tenant('surrogates')).id;
    for (const [method, path, body, headers] of [
      ['POST', '/v1/admin/tenants', JSON.stringify({ name: 'a\u0000' }), admin],
      ['POST', '/v1/admin/tenants/a%00/api-keys', '{}', admin],
      ['DELETE', '/v1/admin/api-keys/a%00', undefined, admin],
      // Stored as U+FFFD, while the answer showed what was sent.
      ['POST', '/v1/admin/tenants', '{"name":"a\\ud800"}', admin],
      ['POST', `/v1/admin/tenants/${tenantId}/api-keys`, '{"name":"k\\udc00"}', admin],
      ['PUT', '/v1/webhook', '{"url":"http://127.0.0.1:9/\\ud800"}', jsonHeaders(key)],
    ] as const) {
      const res = await request(stack.url, path, { method, headers, body });
      expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(500);
      expectError(res, 422, 'validation_failed');
    }
    // A valid request still works right after.
    expect((await submitJson(valid)).status).toBe(202);
  });

  it('422, not 500, for deeply nested JSON', async () => {
    // Within the 64 KiB body limit: 10,000 levels used to overflow the stack (500).
    for (const depth of [65, 200, 10_000]) {
      const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      for (const body of [
        `{"type":"debug-steps","input":{"steps":1},"metadata":${nested}}`,
        `{"type":"debug-steps","input":{"steps":1},"idempotencyKey":"deep-${depth}","metadata":${nested}}`,
        `{"type":"debug-steps","input":{"steps":1,"x":${nested}}}`,
        `{"jobs":[{"type":"debug-steps","input":{"steps":1},"metadata":${nested}}]}`,
      ]) {
        const res = await post(body.startsWith('{"jobs"') ? '/v1/jobs/batch' : '/v1/jobs', body);
        expectError(res, 422, 'validation_failed');
      }
    }
    const arrays = `{"type":"debug-steps","input":{"steps":1},"metadata":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    expectError(await post('/v1/jobs', arrays), 422, 'validation_failed');
    // Ordinary nesting is fine (the request object is level 0, metadata level 1).
    const ok = `${'{"a":'.repeat(60)}1${'}'.repeat(60)}`;
    expect((await post('/v1/jobs', `{"type":"debug-steps","input":{"steps":1},"metadata":${ok}}`)).status).toBe(202);
  });

  it('an unknown route is 404; a known one with another method is 405 with Allow', async () => {
    expectError(await request(stack.url, '/v2/jobs', { headers: bearer(key) }), 404, 'not_found');
    expectError(await request(stack.url, '/v1/jobs/x/y', { method: 'POST', headers: bearer(key) }), 404, 'not_found');
    const put = await request(stack.url, '/v1/jobs', { method: 'PUT', headers: jsonHeaders(key), body: '{}' });
    expectError(put, 405, 'method_not_allowed');
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    const del = await request(stack.url, '/v1/jobs/x', { method: 'DELETE', headers: bearer(key) });
    expect(expectError(del, 405, 'method_not_allowed').message).toBe('/v1/jobs/x answers GET, HEAD, not DELETE');
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    expect((await request(stack.url, '/openapi.json', { method: 'POST' })).headers.get('allow')).toBe('GET, HEAD');
    // The same path with an answering method still works.
    expect((await request(stack.url, '/v1/jobs', { headers: bearer(key) })).status).toBe(200);
  });

  it('a burst of a few hundred malformed requests: no 5xx, and the server still works', async () => {
    const auth = bearer(key);
    const json = jsonHeaders(key);
    const huge = 'h'.repeat(LIMIT * 4);
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const makers: (() => Promise<RawResponse>)[] = [
      () => post('/v1/jobs', '{"type":"debug-steps",'),
      () => post('/v1/jobs', '\u0000\u0001garbage'),
      () => post('/v1/jobs', JSON.stringify({ type: 'debug-steps', input: { steps: 'many' } })),
      () => post('/v1/jobs', JSON.stringify({ type: ['debug-steps'], input: null, priority: {} })),
      () => post('/v1/jobs', JSON.stringify({ type: 'nope', input: 1 })),
      () => post('/v1/jobs', `{"type":"debug-steps","input":{"steps":1},"metadata":{"x":"${huge}"}}`),
      () => post('/v1/jobs/batch', JSON.stringify({ jobs: Array.from({ length: 1001 }, () => valid) })),
      () => post('/v1/jobs/batch', JSON.stringify({ jobs: 'all of them' })),
      () => post('/v1/jobs', `{"type":"debug-steps","input":{"steps":1},"metadata":{"d":${deep}}}`),
      () => post('/v1/jobs', '{"type":"debug-steps","input":{"steps":1},"metadata":{"x":"\\u0000"}}'),
      () => post('/v1/jobs', JSON.stringify(valid), { 'content-type': 'text/plain' }),
      () => post('/v1/jobs', JSON.stringify(valid), { 'idempotency-key': 'i'.repeat(1000) }),
      () => request(stack.url, `/v1/jobs/${'z'.repeat(300)}`, { headers: auth }),
      () => request(stack.url, '/v1/jobs/%00', { headers: auth }),
      () => request(stack.url, '/v1/jobs/..%2f..%2fetc%2fpasswd', { headers: auth }),
      () => request(stack.url, '/v1/jobs/not-a-job/events?after=-1', { headers: auth }),
      () => request(stack.url, '/v1/jobs/not-a-job/cancel', { method: 'POST', headers: auth }),
      () => request(stack.url, '/v1/jobs/not-a-job/retry', { method: 'POST', headers: json, body: '{' }),
      () => request(stack.url, '/v1/jobs?limit=-5&status=%00&cursor=%ff', { headers: auth }),
      () => request(stack.url, '/v1/jobs', { method: 'POST', headers: { ...json, authorization: 'Bearer \u00e9' }, body: '{}' }),
      () => request(stack.url, '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[' }),
    ];
    const total = 320;
    const statuses: number[] = [];
    const concurrency = 16;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const i = next++;
          const res = await makers[i % makers.length]!();
          expect(res.status, `request ${i} (maker ${i % makers.length}): ${res.text.slice(0, 200)}`).toBeLessThan(500);
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.headers.get('x-request-id')).toBeTruthy();
          expectNoStackTrace(res.text);
          expect(res.body?.error?.code).toMatch(/^[a-z_]+$/);
          statuses.push(res.status);
        }
      }),
    );
    expect(statuses).toHaveLength(total);
    for (const s of [400, 401, 404, 413, 415, 422]) expect(statuses).toContain(s);

    const health = await request(stack.url, '/healthz');
    expect(health.status).toBe(200);
    const ok = await submitJson(valid);
    expect(ok.status).toBe(202);
    expect(ok.body.status).toBe('queued');
    expect((await client(stack.url, key).get(ok.body.id)).body.id).toBe(ok.body.id);
  });
});
