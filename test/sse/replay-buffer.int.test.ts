/**
 * Replay includes events published but not yet batched into PostgreSQL. Progress and step
 * events go to Redis at once and to `job_events` in batches; while a transaction holds an
 * EXCLUSIVE lock on `job_events` (reads allowed, inserts wait) no batch can land, so every
 * event the worker publishes meanwhile exists only in the Redis buffer. A subscriber that
 * connects then must still get all of them, from seq 1, with no gap.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaw, sequenceProblem, until } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('SSE: replay of events not yet in PostgreSQL', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;
  let pg: postgres.Sql;

  beforeAll(async () => {
    stack = await startStack();
    apiKey = (await stack.tenant()).apiKey;
    api = client(stack.url, apiKey);
    pg = postgres(stack.database.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await pg?.end({ timeout: 5 });
    await stack?.close();
  });

  const storedSeqs = async (jobId: string) =>
    (await pg<{ seq: number }[]>`SELECT seq FROM job_events WHERE job_id = ${jobId} ORDER BY seq`).map((r) => r.seq);

  it('a subscriber gets events that are only in the Redis buffer, then the rest live', async () => {
    const steps = 12;
    const total = 2 + steps * 3 + 1;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 100 } });
    const id = res.body.id;
    await api.waitFor(id, ['running']);

    // Hold back every batch: inserts into job_events wait for this transaction.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => {
      locked = r;
    });
    const tx = pg.begin(async (sql) => {
      await sql`LOCK TABLE job_events IN EXCLUSIVE MODE`;
      locked();
      await held;
    });
    let lockReleased = false;
    try {
      await lockTaken;
      const inPg = await storedSeqs(id);
      // The worker keeps going: steps are in job_steps, events in Redis only.
      await until(async () => (await stack.api.buffer.lastSeq(id)) >= Math.max(...inPg) + 9, 20_000, 'unbatched events');
      const buffered = await stack.api.buffer.lastSeq(id);
      expect(await storedSeqs(id)).toEqual(inPg);

      const s = await openRaw(stack.url, apiKey, id);
      expect(s.status).toBe(200);
      const replayed = await s.events((e) => e.id >= buffered, 10_000);
      expect(
        sequenceProblem(
          replayed.map((e) => e.id),
          1,
          buffered,
        ),
      ).toBe('');
      // Those events were published before this subscriber existed, and PostgreSQL still
      // does not have them: they can only have come from the Redis buffer.
      const stillInPg = await storedSeqs(id);
      expect(stillInPg).toEqual(inPg);
      const fromRedisOnly = replayed.filter((e) => !stillInPg.includes(e.id));
      expect(fromRedisOnly.length).toBeGreaterThanOrEqual(9);
      expect(new Set(fromRedisOnly.map((e) => e.event))).toEqual(new Set(['step', 'progress']));
      // While batches are held back the job cannot finish (its closing write waits too).
      expect((await api.get(id)).body.status).toBe('running');

      release();
      lockReleased = true;
      await tx;
      const rest = await s.events(undefined, 20_000);
      s.close();
      const all = [...replayed, ...rest];
      expect(
        sequenceProblem(
          all.map((e) => e.id),
          1,
          total,
        ),
      ).toBe('');
      expect(all.at(-1)).toMatchObject({ event: 'completed', data: { result: { steps } } });
    } finally {
      if (!lockReleased) {
        release();
        await tx.catch(() => {});
      }
    }

    // Once batches flow again every event lands in PostgreSQL exactly once.
    await until(async () => (await storedSeqs(id)).length === total, 10_000, 'all events in job_events');
    expect(sequenceProblem(await storedSeqs(id), 1, total)).toBe('');
  });

  it('a late subscriber gets the full history from PostgreSQL after the Redis buffer is gone', async () => {
    const steps = 3;
    const res = await api.submit({ type: 'debug-steps', input: { steps, stepMs: 0 } });
    const id = res.body.id;
    await api.waitFor(id);
    await until(async () => (await storedSeqs(id)).length === 2 + steps * 3 + 1, 10_000, 'all events in job_events');
    // Redis keeps only live work: without the buffer, PostgreSQL alone has the history.
    await stack.api.redis.del(`${stack.prefix}:ev:${id}`);
    expect(await stack.api.buffer.lastSeq(id)).toBe(0);
    const s = await openRaw(stack.url, apiKey, id);
    const events = await s.events();
    s.close();
    expect(
      sequenceProblem(
        events.map((e) => e.id),
        1,
        2 + steps * 3 + 1,
      ),
    ).toBe('');
    expect(events.at(-1)!.event).toBe('completed');
  });
});
