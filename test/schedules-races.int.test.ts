/**
 * Schedules: a PATCH or a resume meeting a pending tick. The reconciler's sweep is slowed to a
 * minute so that it cannot repair, during a test, what these cases would break.
 */

import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/http.ts';
import { client, type Stack, startStack } from './support/stack.ts';

const EVERY_SECOND = '*/1 * * * * *';
const NEVER_SOON = '0 0 1 1 *';
const template = { type: 'debug-steps', input: { steps: 1 } };

describe('schedules meeting a pending tick', () => {
  let stack: Stack;
  let redis: Redis;
  let queue: Queue;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    // No worker until the first case has made its tick overdue.
    stack = await startStack({ worker: false, reconcileIntervalMs: 60_000 });
    redis = new Redis(stack.api.redis.options);
    queue = new Queue('schedules', { connection: redis, prefix: stack.prefix });
    api = client(stack.url, (await stack.tenant('races')).apiKey);
  });
  afterAll(async () => {
    await queue?.close();
    await redis?.quit();
    await stack?.close();
  });

  it('a PATCH that changes nothing Redis holds keeps an overdue tick, which fires once a worker is up', async () => {
    const { body: schedule } = await api.call('POST', '/v1/schedules', { cron: EVERY_SECOND, job: template });
    const [tick] = await queue.getDelayed();
    expect(tick?.id).toMatch(new RegExp(`^repeat:${schedule.id}:\\d+$`));
    const tickAt = Number(tick!.id!.split(':').at(-1));
    await eventually('the tick overdue', async () => Date.now() > tickAt + 200 || undefined);

    const patched = await api.call('PATCH', `/v1/schedules/${schedule.id}`, { enabled: true, cron: EVERY_SECOND, name: 'same' });
    expect(patched.status).toBe(200);
    // Upserted again, BullMQ would have replaced it with the next tick from now.
    expect((await queue.getDelayed()).map((j) => j.id)).toContain(tick!.id);

    await stack.startWorker();
    const key = `schedule:${schedule.id}:${tickAt}`;
    await eventually('the overdue tick’s job', async () => {
      const rows = await stack.database.db.query(sql`SELECT id FROM jobs WHERE idempotency_key = ${key}`);
      return rows.length === 1 || undefined;
    });
    await api.call('DELETE', `/v1/schedules/${schedule.id}`);
  });

  it('a tick that finds its schedule paused does not undo a resume landing meanwhile', async () => {
    const worker = stack.worker ?? (await stack.startWorker());
    const { body: schedule } = await api.call('POST', '/v1/schedules', { cron: NEVER_SOON, job: template });
    // Paused while Redis was unreachable: the row says paused, the scheduler is still there.
    await stack.database.db.query(sql`UPDATE schedules SET enabled = false WHERE id = ${schedule.id}`);
    // The resume commits and answers between the tick's read of the row and its removal.
    const { scheduler } = worker.schedules;
    const remove = scheduler.remove;
    let resumed = false;
    scheduler.remove = async (id) => {
      if (id === schedule.id && !resumed) {
        resumed = true;
        expect((await api.call('PATCH', `/v1/schedules/${schedule.id}`, { enabled: true })).status).toBe(200);
      }
      return remove(id);
    };
    try {
      const tick = await queue.add('tick', { scheduleId: schedule.id }, { prevMillis: Date.UTC(2026, 0, 1) });
      await eventually('the tick done', async () => (await tick.getState()) === 'completed' || undefined);
    } finally {
      scheduler.remove = remove;
    }
    expect(resumed).toBe(true);
    expect(await redis.hexists(`${stack.prefix}:schedules:repeat:${schedule.id}`, 'ic')).toBe(1);
    expect((await api.call('GET', `/v1/schedules/${schedule.id}`)).body.enabled).toBe(true);
    await api.call('DELETE', `/v1/schedules/${schedule.id}`);
  });
});
