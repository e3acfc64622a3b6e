/**
 * Batch contract: POST /v1/jobs/batch answers 202 {data} in request order and every job runs;
 * more than 1,000 jobs or one invalid item → 422 naming the item, with nothing inserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, expectError, jsonHeaders, request } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('API batch submit', () => {
  let stack: Stack;
  let key: string;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack();
    key = (await stack.tenant('batch')).apiKey;
    api = client(stack.url, key);
  });
  afterAll(() => stack?.close());

  const batch = (jobs: unknown[]) =>
    request(stack.url, '/v1/jobs/batch', { method: 'POST', headers: jsonHeaders(key), body: JSON.stringify({ jobs }) });
  const count = async () => {
    let n = 0;
    let cursor: string | null = null;
    do {
      const page = await api.call('GET', `/v1/jobs?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      n += page.body.data.length;
      cursor = page.body.nextCursor;
    } while (cursor);
    return n;
  };

  it('N jobs → 202 {data} in request order, and all of them complete', async () => {
    const n = 50;
    const jobs = Array.from({ length: n }, (_, i) => ({ type: 'debug-steps', input: { steps: 1 + (i % 3) }, metadata: { i } }));
    const res = await batch(jobs);
    expect(res.status).toBe(202);
    expect(Object.keys(res.body)).toEqual(['data']);
    expect(res.body.data).toHaveLength(n);
    expect(res.body.data.map((j: any) => j.metadata.i)).toEqual(jobs.map((j) => j.metadata.i));
    for (const [i, j] of res.body.data.entries()) {
      expect(j).toMatchObject({ type: 'debug-steps', status: 'queued', input: { steps: 1 + (i % 3) }, attempts: 0 });
    }
    expect(new Set(res.body.data.map((j: any) => j.id)).size).toBe(n);

    const done = await Promise.all(res.body.data.map((j: any) => api.waitFor(j.id, undefined, 60_000)));
    for (const [i, j] of done.entries()) {
      expect(j.status).toBe('completed');
      expect(j.result).toEqual({ steps: 1 + (i % 3) });
      expect(j.steps).toHaveLength(1 + (i % 3));
    }
  });

  it('each job of the 202 is the job a GET then returns (the answer is built without reading rows back)', async () => {
    const jobs = [
      { type: 'debug-steps', input: { steps: 2, stepMs: 5 }, delayMs: 600_000, priority: 3, metadata: { a: [1, { b: 'x' }] } },
      { type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000, webhook: { url: 'http://127.0.0.1:9/hook' } },
    ];
    const res = await batch(jobs);
    expect(res.status).toBe(202);
    for (const accepted of res.body.data) {
      const { body } = await api.get(accepted.id);
      expect(accepted).toEqual(body);
    }
    expect(res.body.data[1]).toMatchObject({ input: { steps: 1, stepMs: 0 }, webhook: { url: 'http://127.0.0.1:9/hook' } });
    // Later cases wait for the tenant's queue to empty.
    for (const j of res.body.data) expect((await api.call('POST', `/v1/jobs/${j.id}/cancel`)).status).toBe(200);
  });

  it('exactly 1,000 jobs is accepted', async () => {
    const before = await count();
    // No steps: the jobs finish at once, so the worker does not hold the rest of the file up.
    const res = await batch(
      Array.from({ length: 1000 }, (_, i) => ({ type: 'debug-steps', input: { steps: 0 }, metadata: { n: i } })),
    );
    expect(res.status).toBe(202);
    expect(res.body.data).toHaveLength(1000);
    expect(res.body.data.at(-1).metadata.n).toBe(999);
    expect(await count()).toBe(before + 1000);
    await eventually(
      '1,000 jobs completed',
      async () =>
        (await api.call('GET', '/v1/jobs?status=queued&limit=1')).body.data.length === 0 &&
        (await api.call('GET', '/v1/jobs?status=running&limit=1')).body.data.length === 0,
      60_000,
      250,
    );
  });

  it('over 1,000 jobs → 422 and nothing inserted', async () => {
    const before = await count();
    const res = await batch(Array.from({ length: 1001 }, () => ({ type: 'debug-steps', input: { steps: 1 } })));
    const e = expectError(res, 422, 'validation_failed');
    expect(JSON.stringify(e.details)).toContain('jobs');
    expect(await count()).toBe(before);
  });

  it('an empty batch or a missing jobs list → 422', async () => {
    expectError(await batch([]), 422, 'validation_failed');
    expectError(
      await request(stack.url, '/v1/jobs/batch', { method: 'POST', headers: jsonHeaders(key), body: '{}' }),
      422,
      'validation_failed',
    );
    expectError(
      await request(stack.url, '/v1/jobs/batch', { method: 'POST', headers: jsonHeaders(key), body: '{"jobs":{}}' }),
      422,
      'validation_failed',
    );
  });

  it('one invalid input → 422 naming its index, and no job of the batch is inserted', async () => {
    const before = await count();
    const jobs = Array.from({ length: 10 }, () => ({ type: 'debug-steps', input: { steps: 1 } }));
    jobs[7] = { type: 'debug-steps', input: { steps: 'seven' } as never };
    const e = expectError(await batch(jobs), 422, 'validation_failed');
    expect(e.message).toContain('jobs[7]');
    expect(e.details).toEqual([{ index: 7, path: ['input', 'steps'], message: expect.any(String) }]);
    expect(await count()).toBe(before);
  });

  it('one unknown type → 422 naming its index, and nothing inserted', async () => {
    const before = await count();
    const jobs = [
      { type: 'debug-steps', input: { steps: 1 } },
      { type: 'debug-steps', input: { steps: 1 } },
      { type: 'nope', input: {} },
    ];
    const e = expectError(await batch(jobs), 422, 'unknown_job_type');
    expect(e.details).toEqual([{ index: 2, path: ['type'], message: expect.stringContaining('nope') }]);
    expect(await count()).toBe(before);
  });

  it('one malformed item (wrong field type) → 422 whose issue path names the item, and nothing inserted', async () => {
    const before = await count();
    const jobs: unknown[] = [
      { type: 'debug-steps', input: { steps: 1 } },
      { type: 'debug-steps', input: { steps: 1 }, priority: 'high' },
    ];
    const e = expectError(await batch(jobs), 422, 'validation_failed');
    expect(e.details).toEqual([expect.objectContaining({ path: ['jobs', 1, 'priority'] })]);
    expect(await count()).toBe(before);
  });

  it('several invalid items are all reported', async () => {
    const jobs = [
      { type: 'debug-steps', input: { steps: -1 } },
      { type: 'debug-steps', input: { steps: 1 } },
      { type: 'debug-steps', input: {} },
    ];
    const e = expectError(await batch(jobs), 422, 'validation_failed');
    expect((e.details as { index: number }[]).map((d) => d.index)).toEqual([0, 2]);
  });
});
