/**
 * Meta routes: /healthz and /readyz (no key), /metrics in well-formed Prometheus text with the
 * submission counter, /v1/job-types with JSON Schemas, /openapi.json (OpenAPI 3.1 with the
 * /v1/jobs paths) and /docs (HTML).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, expectError, request } from '../support/http.ts';
import { parsePrometheus } from '../support/prometheus.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('API meta routes', () => {
  let stack: Stack;
  let key: string;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    key = (await stack.tenant('meta')).apiKey;
  });
  afterAll(() => stack?.close());

  it('/healthz → 200 without a key, answered before the app (see serve.ts)', async () => {
    const res = await request(stack.url, '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Like every response: a fresh id, or the client's own.
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await fetch(`${stack.url}/healthz`, { headers: { 'x-request-id': 'probe-42' } });
    expect(echoed.headers.get('x-request-id')).toBe('probe-42');
    const head = await fetch(`${stack.url}/healthz`, { method: 'HEAD' });
    expect(head.headers.get('x-request-id')).toBeTruthy();
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    // Only the exact liveness path is short-cut: anything else goes through the app.
    expect((await request(stack.url, '/healthz/x')).status).toBe(404);
    expect((await request(stack.url, '/healthz?verbose=1')).headers.get('x-request-id')).toBeTruthy();
    // And the app's own route answers the same where the app runs without node:http.
    const viaApp = await stack.app.request('/healthz');
    expect(await viaApp.json()).toEqual({ status: 'ok' });
  });

  it('/readyz → 200 with a check per dependency', async () => {
    const res = await request(stack.url, '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { postgres: { ok: true }, redis: { ok: true } } });
  });

  it('/metrics → Prometheus text that parses, with spool_jobs_submitted_total counting submissions', async () => {
    const scrape = async () => {
      const res = await request(stack.url, '/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheus(res.text);
    };
    const submitted = (families: Map<string, { samples: { labels: Record<string, string>; value: number }[] }>) =>
      families.get('spool_jobs_submitted_total')?.samples.find((s) => s.labels.type === 'debug-steps')?.value ?? 0;

    const before = await scrape();
    const api = client(stack.url, key);
    for (let i = 0; i < 3; i++) expect((await api.submit({ type: 'debug-steps', input: { steps: 1 } })).status).toBe(202);
    // A replayed idempotent submit and a rejected one are not submissions.
    await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'm' });
    await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'm' });
    await api.submit({ type: 'debug-steps', input: { steps: 'x' } });
    // Queue depth is read from BullMQ at most once a second (queue/depth.ts).
    await new Promise((r) => setTimeout(r, 1_100));
    const after = await scrape();

    const family = after.get('spool_jobs_submitted_total');
    expect(family?.type).toBe('counter');
    expect(family?.help).toBeTruthy();
    expect(submitted(after) - submitted(before)).toBe(4);

    // HTTP requests by route template and status, as a histogram with consistent buckets.
    const http = after.get('spool_http_request_duration_seconds');
    expect(http?.type).toBe('histogram');
    const buckets = http!.samples.filter(
      (s) => s.labels.route === '/v1/jobs' && s.labels.method === 'POST' && s.labels.status === '202' && 'le' in s.labels,
    );
    expect(buckets.length).toBeGreaterThan(1);
    const inf = buckets.find((b) => b.labels.le === '+Inf')!.value;
    const count = http!.samples.find(
      (s) =>
        s.labels.route === '/v1/jobs' &&
        s.labels.method === 'POST' &&
        s.labels.status === '202' &&
        !('le' in s.labels) &&
        s.value === inf,
    );
    expect(inf).toBeGreaterThanOrEqual(5);
    expect(count).toBeDefined();
    const values = buckets.map((b) => b.value);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(http!.samples.some((s) => s.labels.status === '422')).toBe(true);

    // Queue depth is read at scrape time: the 4 jobs wait (no worker runs in this file).
    const depth = after.get('spool_queue_depth')?.samples.filter((s) => s.labels.queue === 'debug-steps');
    expect(depth?.find((s) => s.labels.state === 'wait')?.value).toBeGreaterThanOrEqual(4);
    for (const f of after.values())
      for (const s of f.samples) expect(Number.isNaN(s.value) || typeof s.value === 'number').toBe(true);
  });

  it('the Prometheus parser rejects what is not the text format', () => {
    expect(() => parsePrometheus('{"status":"ok"}\n')).toThrow();
    expect(() => parsePrometheus('# TYPE x counter\nx{a="1" 3\n')).toThrow();
    expect(() => parsePrometheus('# TYPE x counter\nx abc\n')).toThrow();
    expect(() => parsePrometheus('y 1\n')).toThrow();
    expect(parsePrometheus('# HELP x A thing.\n# TYPE x counter\nx{a="q\\"z",b="2"} 3 1700000000\n').get('x')?.samples).toEqual([
      { name: 'x', labels: { a: 'q"z', b: '2' }, value: 3 },
    ]);
  });

  it('/v1/job-types lists debug-steps with JSON Schemas of its input and output', async () => {
    expectError(await request(stack.url, '/v1/job-types'), 401, 'unauthorized');
    const res = await request(stack.url, '/v1/job-types', { headers: bearer(key) });
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull(); // every list is {data, nextCursor}
    const type = res.body.data.find((t: { name: string }) => t.name === 'debug-steps');
    expect(type).toBeDefined();
    expect(type.description).toBeTypeOf('string');
    expect(type.input).toMatchObject({
      $schema: expect.stringContaining('json-schema.org'),
      type: 'object',
      properties: {
        steps: { type: 'integer' },
        stepMs: { type: 'integer' },
        failAt: { type: 'integer' },
        failTimes: { type: 'integer' },
      },
      required: ['steps'],
    });
    expect(type.output).toMatchObject({ type: 'object', properties: { steps: { type: 'integer' } }, required: ['steps'] });
    expect(type.retry).toMatchObject({ attempts: 3 });
    expect(type.available).toBe(true);
    // On a PostgreSQL without pgvector (this machine's), the document types are listed, and marked off.
    const vectors = stack.database.db.vectors;
    const available = Object.fromEntries(res.body.data.map((t: { name: string; available: boolean }) => [t.name, t.available]));
    expect(available).toMatchObject({
      ingest: vectors,
      'rag-query': vectors,
      'embed-refresh': vectors,
      summarize: true,
      chat: true,
    });
  });

  it('/openapi.json is OpenAPI 3.1 with the /v1/jobs paths and their schemas', async () => {
    const res = await request(stack.url, '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    for (const path of [
      '/v1/jobs',
      '/v1/jobs/batch',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/cancel',
      '/v1/jobs/{id}/retry',
      '/v1/jobs/{id}/events',
      '/v1/job-types',
    ]) {
      expect(Object.keys(doc.paths), path).toContain(path);
    }
    const submit = doc.paths['/v1/jobs'].post;
    expect(submit.requestBody.content['application/json'].schema).toBeDefined();
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '403', '409', '422']));
    expect(submit.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'idempotency-key', in: 'header' })]),
    );
    expect(Object.keys(doc.paths['/v1/jobs'].get.responses)).toContain('200');
    expect(doc.paths['/v1/jobs'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual([
      'cursor',
      'limit',
      'status',
      'type',
    ]);
    expect(Object.keys(doc.paths['/v1/jobs/{id}/cancel'].post.responses)).toEqual(expect.arrayContaining(['200', '202', '409']));
    expect(doc.components.schemas).toHaveProperty('Job');
    expect(doc.components.schemas).toHaveProperty('Error');
    expect(doc.components.schemas).toHaveProperty('DebugStepsInput');
    expect(doc.components.schemas.Job.properties.status.enum).toEqual(['queued', 'running', 'completed', 'failed', 'canceled']);
    // Error statuses every route may answer with.
    expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(['413', '415', '429', '503']));
    // What a generated client needs to know: `input` is required (it was optional here, and a
    // 422 on the server); the headers answers carry; the admin routes' own token.
    const submitBody = doc.components.schemas.SubmitRequest ?? submit.requestBody.content['application/json'].schema;
    expect(submitBody.required).toEqual(expect.arrayContaining(['type', 'input']));
    expect(doc.components.schemas.Job.required).toEqual(expect.arrayContaining(['input', 'result']));
    expect(Object.keys(submit.responses['202'].headers)).toEqual(['x-request-id', 'Idempotent-Replayed']);
    expect(Object.keys(submit.responses['429'].headers)).toEqual(['x-request-id', 'Retry-After']);
    expect(doc.components.securitySchemes).toHaveProperty('adminToken');
    const adminOps = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/admin/'))
      .flatMap(([, ops]) => Object.values(ops as Record<string, { security?: unknown }>));
    expect(adminOps.length).toBeGreaterThanOrEqual(7);
    for (const op of adminOps) expect(op.security).toEqual([{ adminToken: [] }]);

    // Every route the app serves is in the document (the document itself and its viewer's page and files aside).
    // Endpoints only: a handler takes the context alone, a middleware also takes `next`.
    const served = stack.app.routes
      .filter((r) => r.method !== 'ALL' && r.handler.length < 2 && !/^\/(openapi\.json|docs)/.test(r.path))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m} ${path}`));
    expect(served.length).toBeGreaterThan(30);
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it('every meta response carries x-request-id', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/v1/job-types']) {
      const res = await request(stack.url, path, { headers: bearer(key) });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-request-id'), path).toBeTruthy();
    }
  });

  it('/docs serves an HTML page that loads the OpenAPI document', async () => {
    const res = await request(stack.url, '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<html/i);
    expect(res.text).toContain('/openapi.json');
  });
});
