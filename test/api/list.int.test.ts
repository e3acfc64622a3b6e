/**
 * List contract: GET /v1/jobs is newest first, `limit` bounds a page, `cursor`/`nextCursor`
 * keyset paging visits every job exactly once (also while jobs are added), and the status and
 * type filters select exactly the matching jobs of the caller's tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

type Api = ReturnType<typeof client>;

async function listAll(api: Api, query: string, limit: number) {
  const pages: string[][] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 1000; guard++) {
    const res = await api.call(
      'GET',
      `/v1/jobs?limit=${limit}${query ? `&${query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['data', 'nextCursor']);
    expect(res.body.data.length).toBeLessThanOrEqual(limit);
    pages.push(res.body.data.map((j: { id: string }) => j.id));
    cursor = res.body.nextCursor;
    if (cursor === null) return pages;
    // A page that says more follow is full.
    expect(res.body.data).toHaveLength(limit);
    expect(cursor).toBe(res.body.data.at(-1).id);
  }
  throw new Error('paging did not end');
}

describe('API list and paging', () => {
  let stack: Stack;
  let api: Api;
  /** Submit order: oldest first. */
  const submitted: { id: string; kind: 'ok' | 'fail' | 'delayed' }[] = [];
  const canceled = new Set<string>();

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    api = client(stack.url, (await stack.tenant('list')).apiKey);
    const kinds = ['ok', 'fail', 'delayed', 'ok', 'delayed'] as const;
    for (let i = 0; i < 40; i++) {
      const kind = kinds[i % kinds.length]!;
      const input = kind === 'fail' ? { steps: 1, failAt: 1, failTimes: 99 } : { steps: 1 };
      const res = await api.submit({
        type: 'debug-steps',
        input,
        metadata: { i, kind },
        ...(kind === 'delayed' ? { delayMs: 3_600_000 } : {}),
      });
      expect(res.status).toBe(202);
      submitted.push({ id: res.body.id, kind });
    }
    // And a batch: its jobs are listed in request order too (newest = last).
    const batch = await api.call('POST', '/v1/jobs/batch', {
      jobs: Array.from({ length: 10 }, (_, k) => ({
        type: 'debug-steps',
        input: { steps: 0 },
        metadata: { i: 40 + k, kind: 'ok' },
      })),
    });
    expect(batch.status).toBe(202);
    for (const j of batch.body.data) submitted.push({ id: j.id, kind: 'ok' });

    // Run them: 'ok' completes, 'fail' fails for good, 'delayed' stays queued.
    await stack.startWorker();
    for (const s of submitted.filter((x) => x.kind !== 'delayed')) await api.waitFor(s.id, ['completed', 'failed'], 60_000);
    for (const s of submitted.filter((x) => x.kind === 'delayed').slice(0, 4)) {
      const res = await api.call('POST', `/v1/jobs/${s.id}/cancel`);
      expect(res.status).toBe(200);
      canceled.add(s.id);
    }
  });
  afterAll(() => stack?.close());

  const newestFirst = () => submitted.map((s) => s.id).reverse();

  it('lists newest first with the default limit of 20', async () => {
    const res = await api.call('GET', '/v1/jobs');
    expect(res.status).toBe(200);
    expect(res.body.data.map((j: { id: string }) => j.id)).toEqual(newestFirst().slice(0, 20));
    expect(res.body.nextCursor).toBe(res.body.data[19].id);
    // Full job objects.
    expect(res.body.data[0]).toMatchObject({
      type: 'debug-steps',
      status: expect.any(String),
      steps: expect.any(Array),
      metadata: { i: 49 },
    });
  });

  it('limit bounds the page', async () => {
    for (const limit of [1, 3, 50, 100]) {
      const res = await api.call('GET', `/v1/jobs?limit=${limit}`);
      expect(res.body.data.map((j: { id: string }) => j.id)).toEqual(newestFirst().slice(0, limit));
      expect(res.body.nextCursor).toBe(limit < submitted.length ? res.body.data.at(-1).id : null);
    }
  });

  it('cursor paging visits every job exactly once, in order', async () => {
    for (const limit of [1, 7, 10, 49, 50, 51]) {
      const pages = await listAll(api, '', limit);
      expect(pages.flat()).toEqual(newestFirst());
      expect(pages).toHaveLength(Math.max(1, Math.ceil(submitted.length / limit)));
    }
  });

  it('jobs added while paging do not shift the pages being read', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    const added: string[] = [];
    do {
      const res = await api.call('GET', `/v1/jobs?limit=6${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      cursor = res.body.nextCursor;
      added.push((await api.submit({ type: 'debug-steps', input: { steps: 0 }, metadata: { added: true } })).body.id);
    } while (cursor);
    expect(seen).toEqual(newestFirst());
    // The new ones are at the top, newest first.
    const top = await api.call('GET', `/v1/jobs?limit=${added.length}`);
    expect(top.body.data.map((j: { id: string }) => j.id)).toEqual([...added].reverse());
    for (const id of added) await api.waitFor(id, undefined, 60_000);
    submitted.push(...added.map((id) => ({ id, kind: 'ok' as const })));
  });

  it('status filter selects exactly the jobs in that status, with paging', async () => {
    const expected: Record<string, string[]> = {
      completed: submitted.filter((s) => s.kind === 'ok').map((s) => s.id),
      failed: submitted.filter((s) => s.kind === 'fail').map((s) => s.id),
      canceled: submitted.filter((s) => canceled.has(s.id)).map((s) => s.id),
      queued: submitted.filter((s) => s.kind === 'delayed' && !canceled.has(s.id)).map((s) => s.id),
      running: [],
    };
    for (const [status, ids] of Object.entries(expected)) {
      const pages = await listAll(api, `status=${status}`, 4);
      expect(pages.flat(), status).toEqual([...ids].reverse());
      const page = await api.call('GET', `/v1/jobs?status=${status}&limit=100`);
      for (const j of page.body.data) expect(j.status).toBe(status);
    }
    expect(expected.failed!.length).toBeGreaterThan(0);
    expect(expected.canceled!.length).toBe(4);
  });

  it('type filter selects by job type and combines with status', async () => {
    const all = await listAll(api, 'type=debug-steps', 100);
    expect(all.flat()).toEqual(newestFirst());
    const none = await api.call('GET', '/v1/jobs?type=chat');
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ data: [], nextCursor: null });
    const both = await listAll(api, 'type=debug-steps&status=failed', 3);
    expect(both.flat()).toEqual(
      submitted
        .filter((s) => s.kind === 'fail')
        .map((s) => s.id)
        .reverse(),
    );
    expect((await api.call('GET', '/v1/jobs?type=chat&status=failed')).body.data).toEqual([]);
  });

  it('a cursor past the oldest job gives an empty last page', async () => {
    const oldest = submitted[0]!.id;
    const res = await api.call('GET', `/v1/jobs?cursor=${oldest}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], nextCursor: null });
  });

  it("another tenant's list is empty, and its cursor cannot reach this tenant's jobs", async () => {
    const other = client(stack.url, (await stack.tenant('list-other')).apiKey);
    expect((await other.call('GET', '/v1/jobs')).body).toEqual({ data: [], nextCursor: null });
    const mine = await other.submit({ type: 'debug-steps', input: { steps: 0 } });
    const pages = await listAll(other, `cursor=ffffffff-ffff-7fff-bfff-ffffffffffff`, 100);
    expect(pages.flat()).toEqual([mine.body.id]);
    await eventually('other tenant job done', async () => (await other.get(mine.body.id)).body.status === 'completed');
  });
});

describe('list order when a submit waits on a slow check', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      worker: false,
      webhooks: {
        allowPrivate: false,
        // A resolver that takes 1.5 s (a slow DNS server), answering a public address.
        lookup: async () => {
          await new Promise((r) => setTimeout(r, 1_500));
          return [{ address: '93.184.216.34', family: 4 }];
        },
      },
    });
  });
  afterAll(() => stack?.close());

  it('a job accepted last is listed first, even when its submit started first', async () => {
    // Its id was made before the webhook host's DNS check: committed after later submits, it
    // was listed below them, where a newest-first reader never looks for new jobs.
    const api = client(stack.url, (await stack.tenant('list-order')).apiKey);
    const first = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    const slow = api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: 'http://hooks.example.com/h' } });
    await new Promise((r) => setTimeout(r, 200));
    const second = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body;
    expect((await api.call('GET', '/v1/jobs?limit=10')).body.data.map((j: { id: string }) => j.id)).toEqual([
      second.id,
      first.id,
    ]);
    const late = (await slow).body;
    expect(late.id).toBeTruthy();
    expect((await api.call('GET', '/v1/jobs?limit=10')).body.data.map((j: { id: string }) => j.id)).toEqual([
      late.id,
      second.id,
      first.id,
    ]);
  });
});
