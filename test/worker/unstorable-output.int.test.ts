/**
 * What a handler hands back that PostgreSQL cannot keep (a NUL character, half a surrogate
 * pair) or that is not JSON (a BigInt, a cycle). The checkpoint or closing write was refused,
 * put back before every later write, and the job never ended (BullMQ ran it again, model calls
 * and all, until the reconciler failed it as stalled); one bad progress message held the
 * worker's event batch, every job's, until that job's own closing write.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { executeAttempt } from '@spool/core/steps';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, latch, log, testJob } from '../support/attempts.ts';

describe('unstorable values from a handler', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());
  const deps = () => ({ db: h.database.db, events: h.events, log, running: new Map<string, AbortController>() });
  const run = async (handle: Parameters<typeof testJob>[0], isLastAttempt = false) => {
    const id = await h.submit();
    const outcome = await executeAttempt(deps(), { jobId: id, def: testJob(handle), isLastAttempt, attemptsMade: 0 });
    const steps = await h.database.db.query<{ name: string; status: string }>(
      sql`SELECT name, status FROM job_steps WHERE job_id = ${id} ORDER BY position`,
    );
    const [row] = await h.database.db.query<{ status: string; error: { code: string; message: string } | null }>(
      sql`SELECT status, error FROM jobs WHERE id = ${id}`,
    );
    return { id, outcome, steps, row: row! };
  };

  const refused: [string, Parameters<typeof testJob>[0], RegExp][] = [
    [
      'a step output with a NUL',
      async (_i, ctx) => ctx.step('a', () => ({ text: 'a\u0000b' })),
      /^the output of step "a" at text: text must not contain NUL/,
    ],
    [
      'a step output with half an emoji',
      async (_i, ctx) => ctx.step('a', () => ({ text: 'ok 😀'.slice(0, 4) })),
      /^the output of step "a" at text: .*unpaired surrogates/,
    ],
    [
      'a step output with a BigInt',
      async (_i, ctx) => ctx.step('a', () => ({ total: 10n })),
      /^the output of step "a" is not JSON/,
    ],
    [
      'a step output with a cycle',
      async (_i, ctx) =>
        ctx.step('a', () => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        }),
      /^the output of step "a" is not JSON/,
    ],
  ];
  for (const [label, handle, message] of refused) {
    it(`${label}: the step and the job fail at once (unstorable_output), not retried`, async () => {
      const { outcome, steps, row } = await run(handle);
      expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'unstorable_output', retryable: false } });
      expect(row.error?.message).toMatch(message);
      expect(row.status).toBe('failed');
      expect(steps).toEqual([{ name: 'a', status: 'failed' }]);
    });
  }

  it("a job result with a NUL fails the job; a step's error message with one is kept, cleaned", async () => {
    const result = await run(async () => ({ text: 'a\u0000b' }));
    expect(result.outcome).toMatchObject({ kind: 'failed', error: { code: 'unstorable_output' } });
    expect(result.row.error?.message).toMatch(/^the job's result at text: /);

    const thrown = await run(async (_i, ctx) => {
      await ctx.step('a', () => {
        throw new Error('cannot parse "a\u0000b"');
      });
      return {};
    }, true);
    expect(thrown.outcome.kind).toBe('failed');
    expect(thrown.row.error?.message).toBe('cannot parse "a\uFFFDb"');
    expect(thrown.steps).toEqual([{ name: 'a', status: 'failed' }]);
  });

  it('a step name PostgreSQL cannot keep fails the job at once (invalid_step_name)', async () => {
    for (const name of ['x'.repeat(201), 'a\u0000b']) {
      const { outcome, steps } = await run(async (_i, ctx) => ctx.step(name, () => 1));
      expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'invalid_step_name', retryable: false } });
      expect(steps).toEqual([]);
    }
  });

  it("a progress message with a NUL is stored cleaned, and holds back no other job's events", async () => {
    const gate = latch();
    const b = await h.submit();
    const bDone = executeAttempt(deps(), {
      jobId: b,
      def: testJob(async (_i, ctx) => {
        ctx.progress(42, 'halfway');
        await gate.opened;
        return {};
      }),
      isLastAttempt: true,
      attemptsMade: 0,
    });
    const a = await run(async (_i, ctx) => {
      ctx.progress(10, 'read "a\u0000b"');
      ctx.progress(Number.NaN, 'no number'); // nothing to show: not sent
      ctx.progress(20); // SPEC's {pct, message}: message null
      ctx.emit({ text: 'tok\u0000en' });
      return {};
    });
    expect(a.outcome.kind).toBe('completed');
    const events = (await h.storedEvents(a.id)).filter((e) => e.type === 'progress' || e.type === 'delta');
    expect(events.map((e) => e.data)).toEqual([
      { pct: 10, message: 'read "a\uFFFDb"' },
      { pct: 20, message: null },
      expect.objectContaining({ text: 'tok\uFFFDen' }),
    ]);
    // B's progress reaches PostgreSQL while B still runs (the batch is written every second or so).
    await sleep(2_500);
    const [bRow] = await h.database.db.query<{ progress: unknown }>(sql`SELECT progress FROM jobs WHERE id = ${b}`);
    gate.open();
    await bDone;
    expect(bRow?.progress).toEqual({ pct: 42, message: 'halfway' });
  });
});
