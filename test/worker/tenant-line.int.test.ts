/** The tenant line (queue/tenant-slots.ts): a slot a release frees goes to the head of the line, not to whoever asks first. */
// First: the API extends zod with .openapi() before core's schemas load (as in its main.ts).
import '@spool/api';
import { createTenantSlots, Reconciler, runningSlotsKey } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import { claimJob } from '@spool/core/store/lease';
import { type Job, Queue } from 'bullmq';
import { afterAll, expect, it } from 'vitest';
import { attemptHarness, log } from '../support/attempts.ts';
import { REDIS_URL } from '../support/env.ts';
import { client, randomPrefix, startStack } from '../support/stack.ts';

const redis = createRedis(REDIS_URL, 'worker');
afterAll(() => redis.disconnect());
const job = (id: string, priority?: number) =>
  ({ id, queueName: 'debug-steps', opts: priority ? { priority } : {} }) as unknown as Job & { id: string };

it('a newcomer does not take the slot released for the job at the head of the line', async () => {
  const prefix = `${randomPrefix()}:tenant-running`;
  const slots = createTenantSlots(redis, prefix, 1)!; // no queue: release pops the head without waking it
  expect(await slots.acquireOrQueue('t', job('a'), 60_000)).toBeUndefined(); // a runs
  expect(await slots.acquireOrQueue('t', job('b'), 60_000)).toBe(0); // b waits, first in line
  await new Promise((r) => setTimeout(r, 5));
  expect(await slots.acquireOrQueue('t', job('c'), 60_000)).toBe(1); // c waits behind b
  await slots.release('t', 'a'); // wakes b (popped from the line)
  const newcomer = await slots.acquireOrQueue('t', job('d'), 60_000); // a job never held back
  const headComesBack = await slots.acquireOrQueue('t', job('b'), 60_000); // b, woken, arrives a moment later
  await redis.del(`${prefix}:t`, `${prefix}:t:line`);
  expect(newcomer, 'the newcomer took the slot the release freed for b').not.toBeUndefined();
  expect(headComesBack, 'b, woken first, is not running').toBeUndefined();
});

it('the line is in BullMQ order: no priority first, then 1, 2, …, each in submission order', async () => {
  // It was by arrival only: a priority-1 job waited behind every priority-10 job before it.
  const prefix = `${randomPrefix()}:tenant-running`;
  const slots = createTenantSlots(redis, prefix, 1)!;
  expect(await slots.acquireOrQueue('t', job('0-running'), 60_000)).toBeUndefined();
  // Job ids are time-ordered (uuidv7): these sort in the order they are named.
  for (const [id, priority] of [
    ['1-p10', 10],
    ['2-p10', 10],
    ['3-p1', 1],
    ['4-none', undefined],
    ['5-p1', 1],
  ] as const)
    await slots.acquireOrQueue('t', job(id, priority), 60_000);
  const order: string[] = [];
  for (let holder = '0-running'; ; ) {
    await slots.release('t', holder); // no queue: the head gets the slot without being woken
    const [next] = await redis.zrange(`${prefix}:t`, 0, -1);
    if (!next) break;
    order.push(next);
    holder = next;
  }
  await redis.del(`${prefix}:t`, `${prefix}:t:line`);
  expect(order).toEqual(['4-none', '3-p1', '5-p1', '1-p10', '2-p10']);
});

it('a release passes over any number of canceled jobs at the head of the line', async () => {
  // It gave up after 5: the sixth canceled job kept the slot until it lapsed (16 min).
  const prefix = `${randomPrefix()}`;
  const queue = new Queue('debug-steps', { connection: redis, prefix });
  const slots = createTenantSlots(redis, `${prefix}:tenant-running`, 1, () => queue)!;
  try {
    expect(await slots.acquireOrQueue('t', job('a'), 60_000)).toBeUndefined();
    for (let i = 1; i <= 8; i++) await slots.acquireOrQueue('t', job(`canceled-${i}`), 60_000); // not in BullMQ
    const live = await queue.add('debug-steps', {}, { jobId: 'z-live', delay: 60_000 });
    await slots.acquireOrQueue('t', live as Job & { id: string }, 60_000);
    await slots.release('t', 'a');
    await expect.poll(() => live.getState(), { timeout: 5_000 }).toBe('waiting');
    expect(await redis.zrange(`${prefix}:tenant-running:t`, 0, -1)).toEqual(['z-live']);
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    await redis.del(`${prefix}:tenant-running:t`, `${prefix}:tenant-running:t:line`);
  }
});

it('a job canceled just after it was handed the slot passes the slot on (the API releases it)', async () => {
  // No worker: the test plays the workers' part with the same slots the worker uses.
  const stack = await startStack({ worker: false });
  try {
    const tenant = await stack.tenant('line-cancel');
    const api = client(stack.url, tenant.apiKey);
    const queue = stack.api.queues.get('debug-steps');
    const slots = createTenantSlots(redis, runningSlotsKey(stack.prefix), 1, (name) => stack.api.queues.get(name))!;
    const bullJob = async (id: string) => (await queue.getJob(id)) as Job & { id: string };
    const submit = async () =>
      (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 })).body.id as string;

    const [a, b, c] = [await submit(), await submit(), await submit()];
    expect(await slots.acquireOrQueue(tenant.id, await bullJob(a), 60_000)).toBeUndefined(); // a runs
    expect(await slots.acquireOrQueue(tenant.id, await bullJob(b), 60_000)).toBe(0); // b waits in line
    await slots.release(tenant.id, a); // a ends: the slot is b's, and b is woken
    await expect.poll(async () => (await bullJob(b)).getState(), { timeout: 5_000 }).toBe('waiting');
    // Every worker busy, the client cancels b before one takes it: no worker will release its slot.
    expect((await api.call('POST', `/v1/jobs/${b}/cancel`)).body.status).toBe('canceled');
    // It held the tenant's only slot until it lapsed (the type's timeout and a minute).
    expect(await slots.acquireOrQueue(tenant.id, await bullJob(c), 60_000)).toBeUndefined();
  } finally {
    await stack.close();
  }
});

it('a job BullMQ fails for stalling (its worker killed) frees its slot when the reconciler fails it', async () => {
  const h = await attemptHarness();
  try {
    const slots = createTenantSlots(h.redis, runningSlotsKey(h.prefix), 1, (name) => h.queues.get(name))!;
    const { database, redis, queues, registry, buffer } = h;
    const reconciler = new Reconciler(
      { db: database.db, redis, queues, registry, buffer, log, releaseSlot: slots.release },
      { intervalMs: 1_000, graceMs: 0 },
    );
    const bullJob = async (id: string) => (await h.queues.get('debug-steps').getJob(id)) as Job & { id: string };
    const a = await h.submit({ delayMs: 600_000 });
    const b = await h.submit({ delayMs: 600_000 });
    expect(await slots.acquireOrQueue(h.tenantId, await bullJob(a), 600_000)).toBeUndefined(); // a runs…
    await claimJob(database.db, { jobId: a, seqFloor: 0, attemptsMade: 0 });
    // …and its worker is killed; BullMQ gives up on it (what moveStalledJobsToWait writes).
    await redis.hset(`${h.prefix}:debug-steps:${a}`, 'finishedOn', String(Date.now()), 'failedReason', 'job stalled');
    expect((await reconciler.runOnce())?.failed).toBe(1);
    // The slot is free now, not in 10 minutes.
    expect(await slots.acquireOrQueue(h.tenantId, await bullJob(b), 600_000)).toBeUndefined();
  } finally {
    await h.close();
  }
});
