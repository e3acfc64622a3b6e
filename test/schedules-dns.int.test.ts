/**
 * Schedules whose ticks meet the webhook resolver (mocked for the whole file, hence a file of
 * their own): a tick whose webhook host fails to resolve once (a flaky resolver: EAI_AGAIN) is
 * tried again and still makes its job, the refusal being a retryable 422, not a final one; and
 * a tick held up in the lookup is waited for by a pause.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { client, type Stack, startStack } from './support/stack.ts';

const resolver = vi.hoisted(() => ({ failNext: false, failed: 0, slowLookups: 0 }));
vi.mock('node:dns/promises', async (original) => {
  const real = (await original()) as typeof import('node:dns/promises');
  const lookup = async (host: string, opts: object) => {
    if (host === 'hooks.slow.test') {
      resolver.slowLookups++;
      await new Promise((r) => setTimeout(r, 1_500));
      return [{ address: '127.0.0.1', family: 4 }];
    }
    if (host !== 'hooks.flaky.test') return real.lookup(host, opts as never);
    if (resolver.failNext) {
      resolver.failNext = false;
      resolver.failed++;
      throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: 'EAI_AGAIN' });
    }
    return [{ address: '127.0.0.1', family: 4 }];
  };
  return { ...real, lookup, default: { ...real, lookup } };
});

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

it('a tick whose webhook host did not resolve is tried again and makes its job', async () => {
  const c = client(stack.url, (await stack.tenant('dns')).apiKey);
  const res = await c.call('POST', '/v1/schedules', {
    cron: '*/2 * * * * *',
    // Steps that outlast the test: no job ends, so no webhook delivery looks the host up.
    job: { type: 'debug-steps', input: { steps: 1, stepMs: 60_000 }, webhook: { url: 'http://hooks.flaky.test:9/hook' } },
  });
  expect(res.status).toBe(201);
  const id = res.body.id as string;

  // Each tick's job is keyed by the tick's time: a lost tick is a gap of 4 s between two keys.
  const ticks = async () =>
    (
      await stack.database.db.query<{ key: string }>(
        sql`SELECT idempotency_key AS key FROM jobs WHERE metadata->>'scheduleId' = ${id}`,
      )
    )
      .map((r) => Number(r.key.split(':').at(-1)))
      .sort((a, b) => a - b);
  const until = async (n: number) => {
    const deadline = Date.now() + 20_000;
    while ((await ticks()).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };
  await until(1);
  resolver.failNext = true; // the next tick's lookup fails
  await until(4);
  await c.call('DELETE', `/v1/schedules/${id}`);
  const made = await stack.database.db.query<{ id: string }>(sql`SELECT id FROM jobs WHERE metadata->>'scheduleId' = ${id}`);
  for (const job of made) await c.call('POST', `/v1/jobs/${job.id}/cancel`);
  expect(resolver.failed).toBe(1);
  const times = (await ticks()).slice(0, 4);
  expect(times).toHaveLength(4);
  expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([2_000, 2_000, 2_000]);
});

it('a pause answers after a tick under way has made its job: no job follows the answer', async () => {
  const c = client(stack.url, (await stack.tenant('pause-race')).apiKey);
  const job = { type: 'debug-steps', input: { steps: 1 }, webhook: { url: 'http://hooks.slow.test:9/hook' } };
  const looked = resolver.slowLookups; // the create's own check of the webhook host
  const { body: schedule } = await c.call('POST', '/v1/schedules', { cron: '*/1 * * * * *', job });
  const jobs = async () =>
    (await stack.database.db.query(sql`SELECT id FROM jobs WHERE metadata->>'scheduleId' = ${schedule.id}`)).length;
  // A tick is in its submit, looking the webhook host up (1.5 s), when the pause comes.
  while (resolver.slowLookups < looked + 2) await new Promise((r) => setTimeout(r, 20));
  expect((await c.call('PATCH', `/v1/schedules/${schedule.id}`, { enabled: false })).status).toBe(200);
  const answered = await jobs();
  await new Promise((r) => setTimeout(r, 3_000));
  expect(await jobs()).toBe(answered);
  await c.call('DELETE', `/v1/schedules/${schedule.id}`);
});
