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

it('a short job acquiring after a long one leaves the long one its slot (the set expired with the shorter hold)', async () => {
  const prefix = `${randomPrefix()}:tenant-running`;
  const slots = createTenantSlots(redis, prefix, 2)!;
  try {
    // A long type (ingest: a 61-minute hold) runs; a short one (chat: 11 minutes) comes and
    // goes beside it. Scaled down: 30 s and 1 s.
    expect(await slots.acquireOrQueue('t', job('a-long'), 30_000)).toBeUndefined();
    expect(await slots.acquireOrQueue('t', job('b-short'), 1_000)).toBeUndefined();
    await slots.release('t', 'b-short');
    await new Promise((r) => setTimeout(r, 1_300));
    expect(await redis.zrange(`${prefix}:t`, 0, -1), 'the long job still holds its slot').toEqual(['a-long']);
    expect(await slots.acquireOrQueue('t', job('c'), 30_000)).toBeUndefined();
    expect(await slots.acquireOrQueue('t', job('d'), 30_000), 'a third job ran with cap 2').toBe(0);
  } finally {
    await redis.del(`${prefix}:t`, `${prefix}:t:line`);
  }
});

it('a stale attempt ending after another worker took its job over leaves the slot to it: the cap holds', async () => {
  // Slots are by job id, so the new holder runs in the same slot; the stale attempt freed it,
  // and the next job in line ran beside the taken-over one with a cap of 1.
  const stack = await startStack({ tenantConcurrency: 1, lockMs: 1_500 });
  const first = stack.worker!;
  try {
    const tenant = await stack.tenant('stall');
    const api = client(stack.url, tenant.apiKey);
    const x = (await api.submit({ type: 'debug-steps', input: { steps: 8, stepMs: 700 } })).body.id as string;
    await api.waitFor(x, ['running'], 10_000);
    // Worker 1 takes nothing new (its attempt goes on); a second worker starts (stack.worker now).
    await first.workers.find((w) => w.name === 'debug-steps')!.pause(true);
    await stack.startWorker();
    const y = (await api.submit({ type: 'debug-steps', input: { steps: 4, stepMs: 700 } })).body.id as string;
    await new Promise((r) => setTimeout(r, 500));
    expect((await api.get(y)).body.status).toBe('queued');
    // X's lock lapses, as after a stall: BullMQ's stalled check hands it to worker 2.
    await redis.del(`${stack.prefix}:debug-steps:${x}:lock`);

    let overlap = 0;
    let takenOver = false;
    const ended = (status: string) => ['completed', 'failed', 'canceled'].includes(status);
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const [gx, gy] = await Promise.all([api.get(x), api.get(y)]);
      if (gx.body.attempts >= 2) takenOver = true;
      if (gx.body.status === 'running' && gy.body.status === 'running') overlap++;
      if (ended(gx.body.status) && ended(gy.body.status)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(takenOver, 'X was taken over by worker 2').toBe(true);
    expect(overlap, 'X and Y ran at once with a cap of 1').toBe(0);
  } finally {
    await first.close().catch(() => {});
    await stack.close();
  }
}, 60_000);
