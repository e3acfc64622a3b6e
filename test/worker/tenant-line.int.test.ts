/** The tenant line (queue/tenant-slots.ts): a slot a release frees goes to the head of the line, not to whoever asks first. */
import { createTenantSlots } from '@spool/core/queue';
import { createRedis } from '@spool/core/redis';
import type { Job } from 'bullmq';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from '../support/env.ts';
import { randomPrefix } from '../support/stack.ts';

const redis = createRedis(REDIS_URL, 'worker');
afterAll(() => redis.disconnect());
const job = (id: string) => ({ id, queueName: 'debug-steps' }) as unknown as Job & { id: string };

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
