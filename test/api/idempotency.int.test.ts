/**
 * Idempotency contract: one key and one body → one job (body field or Idempotency-Key header,
 * sequential or concurrent); one key and another body → 409 idempotency_conflict; keys are
 * scoped to the tenant.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, jsonHeaders, request } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('API idempotency', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let key: string;

  beforeAll(async () => {
    stack = await startStack();
    key = (await stack.tenant('idem')).apiKey;
    api = client(stack.url, key);
  });
  afterAll(() => stack?.close());

  /** POST /v1/jobs, answered as raw text (for expectError). */
  const post = (body: unknown) =>
    request(stack.url, '/v1/jobs', { method: 'POST', headers: jsonHeaders(key), body: JSON.stringify(body) });

  const jobsWithKey = async (key: string) => {
    const all = await api.call('GET', '/v1/jobs?limit=100');
    expect(all.status).toBe(200);
    return (all.body.data as { id: string; metadata: { k?: string } }[]).filter((j) => j.metadata.k === key);
  };

  it('same idempotencyKey and same body → the same job, marked as replayed, and no second job', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'body-key-1', metadata: { k: 'body-key-1' } };
    const first = await api.submit(body);
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await api.submit(body);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    // Same body with its keys in another order is the same request.
    const reordered = await api.submit({
      metadata: { k: 'body-key-1' },
      idempotencyKey: 'body-key-1',
      input: { steps: 1 },
      type: 'debug-steps',
    });
    expect(reordered.body.id).toBe(first.body.id);

    expect((await jobsWithKey('body-key-1')).map((j) => j.id)).toEqual([first.body.id]);
    // The replay after completion returns the job as it is now.
    await api.waitFor(first.body.id);
    const late = await api.submit(body);
    expect(late.status).toBe(202);
    expect(late.body.id).toBe(first.body.id);
    expect(late.body.status).toBe('completed');
  });

  it('the Idempotency-Key header works like the body field, and both name one key', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 }, metadata: { k: 'header-key-1' } };
    const first = await api.submit(body, { 'idempotency-key': 'header-key-1' });
    expect(first.status).toBe(202);
    const second = await api.submit(body, { 'Idempotency-Key': 'header-key-1' });
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    const viaBody = await api.submit({ ...body, idempotencyKey: 'header-key-1' });
    expect(viaBody.status).toBe(202);
    expect(viaBody.body.id).toBe(first.body.id);
    expect(await jobsWithKey('header-key-1')).toHaveLength(1);
    // Both at once must agree: which one would win is not a guess a client should have to make.
    const both = await api.submit({ ...body, idempotencyKey: 'header-key-1' }, { 'idempotency-key': 'header-key-1' });
    expect(both.body.id).toBe(first.body.id);
    const mismatch = await api.submit({ ...body, idempotencyKey: 'body-key-2' }, { 'idempotency-key': 'header-key-1' });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error.code).toBe('idempotency_key_mismatch');
    expect(await jobsWithKey('body-key-2')).toHaveLength(0);
  });

  it('a header key must be printable ASCII: Node reads header bytes as Latin-1, which changed a UTF-8 key', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 } };
    for (const header of ['café', Buffer.from('café', 'utf8').toString('latin1')]) {
      const res = await request(stack.url, '/v1/jobs', {
        method: 'POST',
        headers: { ...jsonHeaders(key), 'idempotency-key': header },
        body: JSON.stringify(body),
      });
      expect(expectError(res, 422, 'validation_failed').message).toMatch(/^idempotency-key: must be printable ASCII/);
    }
    // In the body, the same key is any text.
    expect((await api.submit({ ...body, idempotencyKey: 'café' })).status).toBe(202);
  });

  it('two Idempotency-Key headers are refused, not read as one key "a, b"; one key with a comma is a key', async () => {
    /** A POST with the headers as given, repeated ones included (fetch would join them). */
    const rawPost = (headers: string[], body: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = http.request(`${stack.url}/v1/jobs`, { method: 'POST', headers }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, body: text && JSON.parse(text) }));
        });
        req.on('error', reject).end(body);
      });
    const common = ['host', new URL(stack.url).host, 'authorization', `Bearer ${key}`, 'content-type', 'application/json'];
    const body = JSON.stringify({ type: 'debug-steps', input: { steps: 1 }, metadata: { k: 'two-headers' } });
    const twice = await rawPost([...common, 'idempotency-key', 'a', 'idempotency-key', 'b'], body);
    expect(twice.status).toBe(422);
    expect(twice.body.error.message).toBe('idempotency-key: send one Idempotency-Key header, not several');
    expect(await jobsWithKey('two-headers')).toHaveLength(0);
    const one = await rawPost([...common, 'idempotency-key', 'a, b'], body);
    expect(one.status).toBe(202);
    expect((await rawPost([...common, 'idempotency-key', 'a, b'], body)).body.id).toBe(one.body.id);
  });

  it('null for priority, delayMs, webhook or metadata is "not set": the same request as leaving it out', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'null-key' };
    const first = await api.submit(body);
    expect(first.status).toBe(202);
    // A client (or SDK) that serializes unset fields as null is retrying the same submit.
    const nulls = await api.submit({ ...body, priority: null, delayMs: null, webhook: null, metadata: null });
    expect(nulls.status, JSON.stringify(nulls.body)).toBe(202);
    expect(nulls.body.id).toBe(first.body.id);
    expect(nulls.headers.get('idempotent-replayed')).toBe('true');
    // And the other way round: a first submit with nulls, retried without them.
    const withNulls = { ...body, idempotencyKey: 'null-key-2', priority: null, metadata: null };
    const a = await api.submit(withNulls);
    const b = await api.submit({ type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'null-key-2' });
    expect(b.status, JSON.stringify(b.body)).toBe(202);
    expect(b.body.id).toBe(a.body.id);
  });

  it('same key, other body → 409 idempotency_conflict naming the existing job', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'conflict-key', metadata: { k: 'conflict-key' } };
    const first = await api.submit(body);
    expect(first.status).toBe(202);
    for (const other of [
      { ...body, input: { steps: 2 } },
      { ...body, priority: 5 },
      { ...body, metadata: { k: 'conflict-key', extra: true } },
      { ...body, delayMs: 10 },
    ]) {
      const e = expectError(await post(other), 409, 'idempotency_conflict');
      expect(e.details).toEqual({ jobId: first.body.id });
    }
    const viaHeader = await api.submit(
      { ...body, idempotencyKey: undefined, input: { steps: 3 } },
      { 'idempotency-key': 'conflict-key' },
    );
    expect(viaHeader.status).toBe(409);
    expect(viaHeader.body.error.code).toBe('idempotency_conflict');
    expect(await jobsWithKey('conflict-key')).toHaveLength(1);
  });

  it('concurrent identical submits with one key → one job', async () => {
    const body = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'race-key', metadata: { k: 'race-key' } };
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        i % 2 ? api.submit(body) : api.submit({ ...body, idempotencyKey: undefined }, { 'idempotency-key': 'race-key' }),
      ),
    );
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(202);
    const ids = new Set(results.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    const [id] = ids;
    expect((await jobsWithKey('race-key')).map((j) => j.id)).toEqual([id]);
    const job = await api.waitFor(id!);
    expect(job.status).toBe('completed');
    expect(job.attempts).toBe(1);
  });

  it('concurrent submits with one key and different bodies → one job, the rest 409', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        api.submit({ type: 'debug-steps', input: { steps: i % 2 }, idempotencyKey: 'race-mixed', metadata: { k: 'race-mixed' } }),
      ),
    );
    const accepted = results.filter((r) => r.status === 202);
    const conflicts = results.filter((r) => r.status === 409);
    expect(accepted.length + conflicts.length).toBe(results.length);
    expect(new Set(accepted.map((r) => r.body.id)).size).toBe(1);
    for (const c of conflicts) expect(c.body.error.code).toBe('idempotency_conflict');
    expect(await jobsWithKey('race-mixed')).toHaveLength(1);
  });

  it('keys are per tenant: another tenant with the same key gets its own job', async () => {
    const other = client(stack.url, (await stack.tenant('idem-other')).apiKey);
    const body = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'shared-key' };
    const a = await api.submit(body);
    const b = await other.submit({ ...body, input: { steps: 2 } });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.id).not.toBe(a.body.id);
    expect((await other.get(a.body.id)).status).toBe(404);
  });

  it('batch: a key repeated with the same body is one job; with another body, 409 and nothing inserted', async () => {
    const item = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'batch-key', metadata: { k: 'batch-key' } };
    const ok = await api.call('POST', '/v1/jobs/batch', { jobs: [item, item] });
    expect(ok.status).toBe(202);
    expect(ok.body.data[0].id).toBe(ok.body.data[1].id);
    const replay = await api.call('POST', '/v1/jobs/batch', { jobs: [item] });
    expect(replay.body.data[0].id).toBe(ok.body.data[0].id);

    const fresh = { type: 'debug-steps', input: { steps: 1 }, idempotencyKey: 'batch-key-2', metadata: { k: 'batch-key-2' } };
    const bad = await api.call('POST', '/v1/jobs/batch', { jobs: [fresh, { ...fresh, input: { steps: 2 } }] });
    expect(bad.status).toBe(409);
    expect(bad.body.error.code).toBe('idempotency_conflict');
    expect(await jobsWithKey('batch-key-2')).toHaveLength(0);
    expect(await jobsWithKey('batch-key')).toHaveLength(1);
  });

  it('batch: the Idempotency-Key header keys each item by its place, so a retried batch replays (it was ignored)', async () => {
    const item = (n: number) => ({ type: 'debug-steps', input: { steps: n }, metadata: { k: 'batch-header' } });
    const jobs = [item(1), item(2), { ...item(3), idempotencyKey: 'own-key' }];
    const first = await api.call('POST', '/v1/jobs/batch', { jobs }, { 'idempotency-key': 'batch-header' });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await api.call('POST', '/v1/jobs/batch', { jobs }, { 'idempotency-key': 'batch-header' });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data.map((j: { id: string }) => j.id)).toEqual(first.body.data.map((j: { id: string }) => j.id));
    expect(await jobsWithKey('batch-header')).toHaveLength(3);
    // Item 1 is `batch-header:1`, and an item's own key wins over the header.
    const one = await api.submit(item(2), { 'idempotency-key': 'batch-header:1' });
    expect(one.body.id).toBe(first.body.data[1].id);
    const own = await api.submit({ ...item(3), idempotencyKey: 'own-key' });
    expect(own.body.id).toBe(first.body.data[2].id);
    // Another batch under the same key, with other items in those places: 409, nothing written.
    const other = await api.call('POST', '/v1/jobs/batch', { jobs: [item(9)] }, { 'idempotency-key': 'batch-header' });
    expect(other.status).toBe(409);
    expect(await jobsWithKey('batch-header')).toHaveLength(3);
  });
});
