/**
 * Schedules: a cron expression and a job template, fired by BullMQ job schedulers on the
 * `schedules` queue; each tick becomes a Spool job through the submit path (row first). Real
 * Redis and PostgreSQL; the Redis-flush case runs on a private redis-server.
 */

import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, expectError, issueKey, request, sleep } from './support/http.ts';
import { type RedisServer, startRedisServer } from './support/redis-server.ts';
import { client, type Stack, startStack } from './support/stack.ts';

const EVERY_SECOND = '*/1 * * * * *';
const NEVER_SOON = '0 0 1 1 *'; // midnight on 1 January: no tick during a test
const template = { type: 'debug-steps', input: { steps: 2, stepMs: 10 }, metadata: { purpose: 'nightly-refresh' } };

/** Jobs a schedule made, from PostgreSQL (the truth), oldest first. */
const jobsOf = (s: Stack, scheduleId: string) =>
  s.database.db.query<{ id: string; tenant_id: string; idempotency_key: string; status: string }>(sql`
    SELECT id, tenant_id, idempotency_key, status FROM jobs WHERE metadata->>'scheduleId' = ${scheduleId} ORDER BY id`);

/** Whether Redis holds the BullMQ job scheduler of `id` (BullMQ's own probe, see schedules/queue.ts). */
const hasScheduler = async (redis: Redis, s: Stack, id: string) =>
  (await redis.hexists(`${s.prefix}:schedules:repeat:${id}`, 'ic')) === 1;

describe('schedules', () => {
  let stack: Stack;
  let redis: Redis;
  let a: ReturnType<typeof client>;
  let b: ReturnType<typeof client>;
  let tenantA: { id: string; apiKey: string };

  beforeAll(async () => {
    stack = await startStack({ reconcileIntervalMs: 500 });
    redis = new Redis(stack.api.redis.options);
    tenantA = await stack.tenant('sched-a');
    a = client(stack.url, tenantA.apiKey);
    b = client(stack.url, (await stack.tenant('sched-b')).apiKey);
  });
  afterAll(async () => {
    await redis?.quit();
    await stack?.close();
  });

  it('fires every second and each tick makes one job that completes, visible in GET /v1/jobs', async () => {
    // null for a field means "not set", as the schedule object shows it.
    const unset = await a.call('POST', '/v1/schedules', { cron: '0 3 * * *', name: null, timezone: null, job: template });
    expect(unset.status).toBe(201);
    expect(unset.body).toMatchObject({ name: null, timezone: null });
    expect((await a.call('DELETE', `/v1/schedules/${unset.body.id}`)).status).toBe(204);

    const res = await a.call('POST', '/v1/schedules', { cron: EVERY_SECOND, name: 'every second', job: template });
    expect(res.status).toBe(201);
    const schedule = res.body;
    expect(schedule).toMatchObject({
      name: 'every second',
      cron: EVERY_SECOND,
      timezone: null,
      enabled: true,
      job: { type: 'debug-steps', input: { steps: 2, stepMs: 10 }, metadata: { purpose: 'nightly-refresh' }, webhook: null },
      lastRunAt: null,
    });
    expect(schedule.id).toMatch(/^sch_/);
    expect(Date.parse(schedule.nextRunAt) - Date.now()).toBeLessThanOrEqual(1_000);
    expect(await hasScheduler(redis, stack, schedule.id)).toBe(true);

    const rows = await eventually('three scheduled jobs', async () => {
      const r = await jobsOf(stack, schedule.id);
      return r.length >= 3 ? r : undefined;
    });
    // One job per tick: distinct keys, each a whole second (the tick's time, not the run's).
    const keys = rows.map((r) => r.idempotency_key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) {
      expect(key).toMatch(new RegExp(`^schedule:${schedule.id}:\\d+$`));
      expect(Number(key.split(':').at(-1)) % 1_000).toBe(0);
    }
    expect(rows.every((r) => r.tenant_id === tenantA.id)).toBe(true);

    // Visible through the API as ordinary jobs, and they complete.
    const listed = await a.call('GET', '/v1/jobs?type=debug-steps&limit=100');
    const listedIds = new Set(listed.body.data.map((j: any) => j.id));
    for (const r of rows.slice(0, 3)) expect(listedIds.has(r.id)).toBe(true);
    for (const r of rows.slice(0, 3)) {
      const job = await a.waitFor(r.id);
      expect(job).toMatchObject({
        status: 'completed',
        result: { steps: 2 },
        metadata: { purpose: 'nightly-refresh', scheduleId: schedule.id },
      });
      expect(job.steps.map((s: any) => s.runs)).toEqual([1, 1]);
    }

    const after = await a.call('GET', `/v1/schedules/${schedule.id}`);
    expect(after.status).toBe(200);
    expect(after.body.lastRunAt).not.toBeNull();
    expect(after.body.lastError).toBeNull();
    const mine = (await jobsOf(stack, schedule.id)).map((r) => r.id);
    expect(mine).toContain(after.body.lastJobId);

    // Delete stops it: 204, the scheduler is gone from Redis, and no tick makes a job after.
    const del = await a.call('DELETE', `/v1/schedules/${schedule.id}`);
    expect(del.status).toBe(204);
    expect(await hasScheduler(redis, stack, schedule.id)).toBe(false);
    await sleep(1_500); // a tick in flight at the delete may still land
    const settled = (await jobsOf(stack, schedule.id)).length;
    await sleep(2_500);
    expect((await jobsOf(stack, schedule.id)).length).toBe(settled);
    expectError(
      await request(stack.url, `/v1/schedules/${schedule.id}`, { headers: { authorization: `Bearer ${tenantA.apiKey}` } }),
      404,
      'not_found',
    );
    expect((await a.call('DELETE', `/v1/schedules/${schedule.id}`)).status).toBe(404);
  });

  it('a tick handled twice (a retry, a worker that died after its commit) makes one job', async () => {
    const { body: schedule } = await a.call('POST', '/v1/schedules', { cron: NEVER_SOON, job: template });
    const queue = new Queue('schedules', { connection: redis, prefix: stack.prefix });
    try {
      const tickAt = Date.UTC(2026, 0, 1);
      // Two deliveries of the same tick, as BullMQ would make after a stall or a failed attempt.
      await queue.add('tick', { scheduleId: schedule.id }, { jobId: 'dup-1', prevMillis: tickAt });
      await queue.add('tick', { scheduleId: schedule.id }, { jobId: 'dup-2', prevMillis: tickAt });
      await eventually('both ticks handled', async () => {
        const states = await Promise.all(['dup-1', 'dup-2'].map((id) => queue.getJobState(id)));
        return states.every((st) => st === 'completed') || undefined;
      });
      const rows = await jobsOf(stack, schedule.id);
      expect(rows.map((r) => r.idempotency_key)).toEqual([`schedule:${schedule.id}:${tickAt}`]);
      await a.waitFor(rows[0]!.id);
      // The schedule shows the tick it handled and the job it made.
      const after = (await a.call('GET', `/v1/schedules/${schedule.id}`)).body;
      expect(after).toMatchObject({ lastRunAt: new Date(tickAt).toISOString(), lastJobId: rows[0]!.id, lastError: null });
    } finally {
      await queue.close();
      await a.call('DELETE', `/v1/schedules/${schedule.id}`);
    }
  });

  it('POST with enabled: false creates it paused: no scheduler, no tick, until a PATCH resumes it', async () => {
    const made = await a.call('POST', '/v1/schedules', { cron: EVERY_SECOND, enabled: false, job: template });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ enabled: false, nextRunAt: null });
    expect(await hasScheduler(redis, stack, made.body.id)).toBe(false);
    await sleep(1_500);
    expect(await jobsOf(stack, made.body.id)).toHaveLength(0);
    const resumed = await a.call('PATCH', `/v1/schedules/${made.body.id}`, { enabled: true });
    expect(resumed.body).toMatchObject({ enabled: true, nextRunAt: expect.any(String) });
    expect(await hasScheduler(redis, stack, made.body.id)).toBe(true);
    expect((await a.call('DELETE', `/v1/schedules/${made.body.id}`)).status).toBe(204);
  });

  it('PATCH pauses, resumes, and changes the template and the expression', async () => {
    const { body: schedule } = await a.call('POST', '/v1/schedules', { cron: EVERY_SECOND, name: 'to change', job: template });
    await eventually('a first tick', async () => (await jobsOf(stack, schedule.id)).length > 0 || undefined);

    // Pause: no scheduler in Redis, no next run, and no job from a tick after it.
    const paused = await a.call('PATCH', `/v1/schedules/${schedule.id}`, { enabled: false });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      id: schedule.id,
      enabled: false,
      nextRunAt: null,
      cron: EVERY_SECOND,
      name: 'to change',
    });
    expect(await hasScheduler(redis, stack, schedule.id)).toBe(false);
    await sleep(1_500); // a tick in flight at the pause may still land
    const whilePaused = (await jobsOf(stack, schedule.id)).length;
    await sleep(2_500);
    expect((await jobsOf(stack, schedule.id)).length).toBe(whilePaused);
    expect((await a.call('GET', `/v1/schedules/${schedule.id}`)).body.enabled).toBe(false);

    // Resume with a new template: ticks come back and submit the new one.
    const changed = { type: 'debug-steps', input: { steps: 1 }, metadata: { purpose: 'changed' } };
    const resumed = await a.call('PATCH', `/v1/schedules/${schedule.id}`, { enabled: true, job: changed, name: null });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({
      enabled: true,
      name: null,
      job: { input: { steps: 1 }, metadata: { purpose: 'changed' } },
    });
    expect(Date.parse(resumed.body.nextRunAt) - Date.now()).toBeLessThanOrEqual(1_000);
    expect(await hasScheduler(redis, stack, schedule.id)).toBe(true);
    const fresh = await eventually('two ticks after the resume', async () => {
      const rows = (await jobsOf(stack, schedule.id)).slice(whilePaused);
      return rows.length >= 2 ? rows : undefined;
    });
    for (const r of fresh.slice(0, 2)) {
      expect(await a.waitFor(r.id)).toMatchObject({
        status: 'completed',
        result: { steps: 1 },
        metadata: { purpose: 'changed', scheduleId: schedule.id },
      });
    }

    // A new expression and zone: Redis's scheduler holds them, and the every-second ticks stop.
    const moved = await a.call('PATCH', `/v1/schedules/${schedule.id}`, { cron: NEVER_SOON, timezone: 'Asia/Tokyo' });
    expect(moved.body).toMatchObject({ cron: NEVER_SOON, timezone: 'Asia/Tokyo', enabled: true });
    expect(new Date(moved.body.nextRunAt).toISOString()).toMatch(/-12-31T15:00:00.000Z$/); // midnight 1 January in Tokyo
    expect(await redis.hmget(`${stack.prefix}:schedules:repeat:${schedule.id}`, 'pattern', 'tz')).toEqual([
      NEVER_SOON,
      'Asia/Tokyo',
    ]);
    await sleep(1_500);
    const afterMove = (await jobsOf(stack, schedule.id)).length;
    await sleep(2_500);
    expect((await jobsOf(stack, schedule.id)).length).toBe(afterMove);
    // `timezone: null` reads it in UTC again.
    expect((await a.call('PATCH', `/v1/schedules/${schedule.id}`, { timezone: null })).body.timezone).toBeNull();
    expect(await redis.hget(`${stack.prefix}:schedules:repeat:${schedule.id}`, 'tz')).toBe('UTC');
    await a.call('DELETE', `/v1/schedules/${schedule.id}`);
  });

  it('PATCH refuses bad input with 4xx codes and changes nothing', async () => {
    const { body: schedule } = await a.call('POST', '/v1/schedules', { cron: NEVER_SOON, name: 'kept', job: template });
    const path = `/v1/schedules/${schedule.id}`;
    const patch = (body: string) =>
      request(stack.url, path, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${tenantA.apiKey}`, 'content-type': 'application/json' },
        body,
      });
    const empty = expectError(await patch('{}'), 422, 'validation_failed');
    expect(empty.message).toContain('at least one of');
    // An unknown field is refused, not ignored: a pause that did nothing would look like it worked.
    const unknown = expectError(await patch('{"paused":true}'), 422, 'validation_failed');
    expect(unknown.message).toContain('paused');
    expect(unknown.details).toHaveLength(1);
    expectError(await patch('{"cron":"61 * * * *"}'), 422, 'invalid_cron');
    expectError(await patch('{"timezone":"Mars/Olympus_Mons"}'), 422, 'invalid_timezone');
    expectError(await patch('{"enabled":"no"}'), 422, 'validation_failed');
    expectError(await patch('{"job":{"type":"no-such-type","input":{}}}'), 422, 'unknown_job_type');
    const invalid = expectError(await patch('{"job":{"type":"debug-steps","input":{"steps":"many"}}}'), 422, 'validation_failed');
    expect(invalid.details).toEqual([expect.objectContaining({ path: ['job', 'input', 'steps'] })]);
    expectError(await patch('{"cron":'), 400, 'invalid_json');
    // Another tenant's, a missing one, a read-only key.
    expect((await b.call('PATCH', path, { enabled: false })).status).toBe(404);
    expect((await a.call('PATCH', '/v1/schedules/sch_missing', { enabled: false })).status).toBe(404);
    const readOnly = await issueKey(stack.url, stack.adminToken, tenantA.id, ['jobs:read']);
    expect((await client(stack.url, readOnly.apiKey).call('PATCH', path, { enabled: false })).status).toBe(403);

    const after = (await a.call('GET', path)).body;
    expect(after).toEqual({ ...schedule, nextRunAt: after.nextRunAt });
    expect(await redis.hmget(`${stack.prefix}:schedules:repeat:${schedule.id}`, 'pattern', 'tz')).toEqual([NEVER_SOON, 'UTC']);
    await a.call('DELETE', path);
  });

  it('is tenant-scoped: another tenant cannot list, read or delete it', async () => {
    const { body: schedule } = await a.call('POST', '/v1/schedules', {
      cron: NEVER_SOON,
      timezone: 'Europe/Paris',
      job: template,
    });
    expect(schedule.timezone).toBe('Europe/Paris');
    const listB = await b.call('GET', '/v1/schedules');
    expect(listB.status).toBe(200);
    expect(listB.body.data.map((s: any) => s.id)).not.toContain(schedule.id);
    expect((await b.call('GET', `/v1/schedules/${schedule.id}`)).status).toBe(404);
    expect((await b.call('DELETE', `/v1/schedules/${schedule.id}`)).status).toBe(404);
    // Still there for its owner, in Redis too.
    const listA = await a.call('GET', '/v1/schedules');
    expect(listA.body.data.map((s: any) => s.id)).toContain(schedule.id);
    expect((await a.call('GET', `/v1/schedules/${schedule.id}`)).status).toBe(200);
    expect(await hasScheduler(redis, stack, schedule.id)).toBe(true);
    await a.call('DELETE', `/v1/schedules/${schedule.id}`);
  });

  it('lists newest first with keyset pages', async () => {
    const c = client(stack.url, (await stack.tenant('sched-pages')).apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await c.call('POST', '/v1/schedules', { cron: NEVER_SOON, job: template })).body.id);
    const first = await c.call('GET', '/v1/schedules?limit=2');
    expect(first.body.data.map((s: any) => s.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.nextCursor).toBe(ids[1]);
    const second = await c.call('GET', `/v1/schedules?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
    // A cursor this API did not return is refused, not read as "from the top".
    expect((await c.call('GET', '/v1/schedules?cursor=garbage')).status).toBe(422);
    for (const id of ids) await c.call('DELETE', `/v1/schedules/${id}`);
  });

  it('refuses bad input with 4xx codes, never a 500, and writes nothing', async () => {
    const post = (body: unknown) =>
      request(stack.url, '/v1/schedules', {
        method: 'POST',
        headers: { authorization: `Bearer ${tenantA.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const before = (await stack.database.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM schedules`))[0]!.n;
    for (const cron of ['not a cron', '* * * *', '61 * * * *', '* * * * * * *']) {
      const err = expectError(await post({ cron, job: template }), 422, 'invalid_cron');
      expect(err.message).toContain(cron);
    }
    expectError(await post({ cron: '0 3 * * *', timezone: 'Mars/Olympus_Mons', job: template }), 422, 'invalid_timezone');
    expectError(await post({ cron: '0 3 * * *', job: { type: 'no-such-type', input: {} } }), 422, 'unknown_job_type');
    const invalid = expectError(
      await post({ cron: '0 3 * * *', job: { type: 'debug-steps', input: { steps: 'many' } } }),
      422,
      'validation_failed',
    );
    expect(invalid.details).toEqual([expect.objectContaining({ path: ['job', 'input', 'steps'] })]);
    // As POST /v1/jobs would refuse the template (each tick was refused, into lastError).
    const chat = (input: Record<string, unknown>) => ({
      cron: '0 3 * * *',
      job: { type: 'chat', input: { messages: [{ role: 'user', content: 'hi' }], ...input } },
    });
    expectError(await post(chat({ model: 'openai:no-such-model' })), 422, 'unknown_model');
    expectError(
      await post(chat({ messages: [{ role: 'user', content: 'hello '.repeat(140_000) }] })),
      413,
      'token_budget_exceeded',
    );
    const made = await client(stack.url, tenantA.apiKey).call('POST', '/v1/schedules', { cron: NEVER_SOON, job: template });
    const patched = await request(stack.url, `/v1/schedules/${made.body.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${tenantA.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ job: chat({ model: 'openai:no-such-model' }).job }),
    });
    expectError(patched, 422, 'unknown_model');
    expect((await client(stack.url, tenantA.apiKey).call('DELETE', `/v1/schedules/${made.body.id}`)).status).toBe(204);
    expectError(await post({ job: template }), 422, 'validation_failed');
    expectError(await post({ cron: '0 3 * * *' }), 422, 'validation_failed');
    expectError(
      await request(stack.url, '/v1/schedules', {
        method: 'POST',
        headers: { authorization: `Bearer ${tenantA.apiKey}`, 'content-type': 'application/json' },
        body: '{"cron":',
      }),
      400,
      'invalid_json',
    );
    // Scopes as for jobs: a read-only key reads but cannot create or delete.
    const readOnly = await issueKey(stack.url, stack.adminToken, tenantA.id, ['jobs:read']);
    const ro = client(stack.url, readOnly.apiKey);
    expect((await ro.call('POST', '/v1/schedules', { cron: NEVER_SOON, job: template })).status).toBe(403);
    expect((await ro.call('GET', '/v1/schedules')).status).toBe(200);
    expect((await ro.call('DELETE', '/v1/schedules/sch_x')).status).toBe(403);
    expect((await stack.database.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM schedules`))[0]!.n).toBe(before);
  });

  it('is in the OpenAPI document', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/schedules', '/v1/schedules/{id}']));
    expect(doc.paths['/v1/schedules'].post.responses['201']).toBeDefined();
    expect(doc.paths['/v1/schedules/{id}'].patch.responses['200']).toBeDefined();
  });
});

describe('schedules after Redis loses its data', () => {
  let server: RedisServer;
  let stack: Stack;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    stack = await startStack({ redisUrl: server.url, reconcileIntervalMs: 300 });
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis?.quit();
    await stack?.close();
    await server?.stop();
  });

  it('the reconciler upserts the schedulers again from PostgreSQL, and ticks resume', async () => {
    const api = client(stack.url, (await stack.tenant('flush')).apiKey);
    const { status, body: schedule } = await api.call('POST', '/v1/schedules', { cron: EVERY_SECOND, job: template });
    expect(status).toBe(201);
    await eventually('a first tick', async () => (await jobsOf(stack, schedule.id)).length > 0 || undefined);

    expect(await server.command('FLUSHALL')).toBe('+OK\r\n');
    const flushedAt = Date.now();
    await eventually(
      'the scheduler back in Redis',
      () => hasScheduler(redis, stack, schedule.id).then((x) => x || undefined),
      15_000,
    );
    // Ticks after the flush make jobs again, and they complete.
    const fresh = await eventually(
      'two ticks after the flush',
      async () => {
        const rows = (await jobsOf(stack, schedule.id)).filter((r) => Number(r.idempotency_key.split(':').at(-1)) > flushedAt);
        return rows.length >= 2 ? rows : undefined;
      },
      20_000,
    );
    for (const r of fresh.slice(0, 2)) expect(await api.waitFor(r.id)).toMatchObject({ status: 'completed' });
    await api.call('DELETE', `/v1/schedules/${schedule.id}`);
  });

  it('a scheduler that missed an update (paused, or a new expression) is repaired from PostgreSQL', async () => {
    const api = client(stack.url, (await stack.tenant('missed-update')).apiKey);
    const { body: schedule } = await api.call('POST', '/v1/schedules', { cron: EVERY_SECOND, job: template });
    await eventually('a first tick', async () => (await jobsOf(stack, schedule.id)).length > 0 || undefined);
    const meta = `${stack.prefix}:schedules:repeat:${schedule.id}`;
    // As if PATCH had committed while Redis was unreachable: the row changed, the scheduler not.
    await stack.database.db.query(
      sql`UPDATE schedules SET cron = ${NEVER_SOON}, timezone = 'Asia/Tokyo' WHERE id = ${schedule.id}`,
    );
    await eventually(
      'the scheduler upserted with the new expression',
      async () => (await redis.hmget(meta, 'pattern', 'tz')).join(' ') === `${NEVER_SOON} Asia/Tokyo` || undefined,
      10_000,
    );
    await sleep(1_500);
    const settled = (await jobsOf(stack, schedule.id)).length;
    await sleep(2_000);
    expect((await jobsOf(stack, schedule.id)).length).toBe(settled);

    await stack.database.db.query(sql`UPDATE schedules SET enabled = false WHERE id = ${schedule.id}`);
    await eventually(
      'the paused scheduler removed',
      async () => !(await hasScheduler(redis, stack, schedule.id)) || undefined,
      10_000,
    );
    await stack.database.db.query(
      sql`UPDATE schedules SET enabled = true, cron = ${EVERY_SECOND}, timezone = NULL WHERE id = ${schedule.id}`,
    );
    await eventually(
      'ticks again once resumed',
      async () => (await jobsOf(stack, schedule.id)).length > settled || undefined,
      15_000,
    );
    await api.call('DELETE', `/v1/schedules/${schedule.id}`);
  });

  it('a scheduler whose schedule is gone from PostgreSQL is removed, and makes no more jobs', async () => {
    const api = client(stack.url, (await stack.tenant('orphan')).apiKey);
    const { body: schedule } = await api.call('POST', '/v1/schedules', { cron: EVERY_SECOND, job: template });
    await eventually('a first tick', async () => (await jobsOf(stack, schedule.id)).length > 0 || undefined);
    // As if DELETE had committed while Redis was unreachable: the row is gone, the scheduler not.
    await stack.database.db.query(sql`DELETE FROM schedules WHERE id = ${schedule.id}`);
    await eventually(
      'the orphan scheduler removed',
      async () => !(await hasScheduler(redis, stack, schedule.id)) || undefined,
      10_000,
    );
    await sleep(1_500);
    const settled = (await jobsOf(stack, schedule.id)).length;
    await sleep(2_000);
    expect((await jobsOf(stack, schedule.id)).length).toBe(settled);
  });

  it('concurrent creates never take a tenant past 1,000 schedules', async () => {
    // The count and the insert were two statements: 20 creates at 995 all passed the count.
    const t = await stack.tenant('sched-many');
    const c = client(stack.url, t.apiKey);
    await stack.database.db.query(sql`
      INSERT INTO schedules (id, tenant_id, cron, job_type, job_input)
      SELECT 'sch_seed_' || lpad(g::text, 4, '0') || ${t.id}, ${t.id}, ${NEVER_SOON}, 'debug-steps', '{"steps":1}'::jsonb
      FROM generate_series(1, 995) g`);
    const body = { cron: NEVER_SOON, job: { type: 'debug-steps', input: { steps: 1 } } };
    const statuses = (await Promise.all(Array.from({ length: 20 }, () => c.call('POST', '/v1/schedules', body)))).map(
      (r) => r.status,
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    const [held] = await stack.database.db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM schedules WHERE tenant_id = ${t.id}`,
    );
    expect(held!.n).toBe(1_000);
  });

  it('a name PostgreSQL cannot keep as sent is a 422, on create and on update', async () => {
    const a = client(stack.url, (await stack.tenant('sched-names')).apiKey);
    // It was stored with U+FFFD in place of the unpaired surrogate; a job's metadata is refused.
    const body = { cron: NEVER_SOON, name: 'a\ud800b', job: { type: 'debug-steps', input: { steps: 1 } } };
    const created = await a.call('POST', '/v1/schedules', body);
    expect(created.status).toBe(422);
    expect(created.body.error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/^name: /) });
    const ok = await a.call('POST', '/v1/schedules', { ...body, name: 'fine' });
    expect(ok.status).toBe(201);
    const renamed = await a.call('PATCH', `/v1/schedules/${ok.body.id}`, { name: 'nul\u0000' });
    expect(renamed.status).toBe(422);
    expect((await a.call('GET', `/v1/schedules/${ok.body.id}`)).body.name).toBe('fine');
  });
});
