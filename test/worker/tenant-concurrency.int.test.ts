import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('per-tenant running-job cap (SPOOL_TENANT_CONCURRENCY)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ tenantConcurrency: 1 });
  });
  afterAll(() => stack?.close());

  it("runs one of tenant A's jobs at a time while tenant B's job runs alongside", async () => {
    const a = client(stack.url, (await stack.tenant('a')).apiKey);
    const b = client(stack.url, (await stack.tenant('b')).apiKey);
    const aIds = [];
    for (let i = 0; i < 3; i++) aIds.push((await a.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 250 } })).body.id);
    const bId = (await b.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 250 } })).body.id;

    const aJobs = await Promise.all(aIds.map((id) => a.waitFor(id)));
    const bJob = await b.waitFor(bId);
    expect([...aJobs, bJob].every((j) => j.status === 'completed' && j.attempts === 1)).toBe(true);

    const spans = aJobs.map((j) => [Date.parse(j.startedAt), Date.parse(j.finishedAt)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    // B did not wait for A's queue to drain.
    expect(Date.parse(bJob.startedAt)).toBeLessThan(spans.at(-1)![0]);
  });

  it("a tenant's backlog waits in line: each held job is taken about twice, not every few hundred ms", async () => {
    const a = client(stack.url, (await stack.tenant('backlog')).apiKey);
    const res = await a.call('POST', '/v1/jobs/batch', {
      jobs: Array.from({ length: 12 }, () => ({ type: 'debug-steps', input: { steps: 1, stepMs: 150 } })),
    });
    expect(res.status).toBe(202);
    const ids: string[] = res.body.data.map((j: any) => j.id);
    const jobs = await Promise.all(ids.map((id) => a.waitFor(id)));
    expect(jobs.every((j) => j.status === 'completed' && j.attempts === 1)).toBe(true);
    const spans = jobs.map((j) => [Date.parse(j.startedAt), Date.parse(j.finishedAt)] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

    // BullMQ counts every time it handed a job out (attemptsStarted): taken, sent to the line,
    // woken by the release before it, run. The last waited about 2 s; polling every 200–500 ms
    // took it out 4 to 10 times.
    const redis = new Redis(REDIS_URL);
    try {
      const started = await Promise.all(
        ids.map(async (id) => Number(await redis.hget(`${stack.prefix}:debug-steps:${id}`, 'ats'))),
      );
      expect(Math.max(...started), JSON.stringify(started)).toBeLessThanOrEqual(3);
    } finally {
      redis.disconnect();
    }
  });
});
