/**
 * A closing write that fails once because the connection dropped (PostgreSQL restart, failover,
 * a pooler reset), with PostgreSQL back at once: the handler's outcome is not turned into a
 * failure of the attempt (a spent attempt, or on the last one a job failed for good) and leaves
 * no seq gap. The error goes out, and the worker steps aside (apps/worker/src/run-job.ts).
 */

import type { Database } from '@spool/core/db';
import { EventWriter } from '@spool/core/events';
import { executeAttempt } from '@spool/core/steps';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttemptHarness, attemptHarness, log, testJob } from '../support/attempts.ts';

describe('closing write during a connection blip', () => {
  let h: AttemptHarness;
  beforeAll(async () => {
    h = await attemptHarness();
  });
  afterAll(() => h?.close());

  for (const isLastAttempt of [false, true]) {
    it(`a completed handler is not turned into a ${isLastAttempt ? 'failed job' : 'spent attempt'} (isLastAttempt=${isLastAttempt})`, async () => {
      const id = (await h.jobs.submit(h.tenantId, [{ type: 'debug-steps', input: { steps: 1 } }]))[0]!.job.id;
      let failNext = false;
      const flaky: Database = Object.assign(Object.create(h.database.db), {
        query: (statement: Parameters<Database['query']>[0]) => {
          if (failNext) {
            failNext = false;
            return Promise.reject(
              Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' }),
            );
          }
          return h.database.db.query(statement);
        },
      });
      const def = testJob(async () => {
        failNext = true; // the next statement of this attempt is its closing write
        return { done: true };
      });
      const events = new EventWriter(h.database.db, h.buffer, log);
      let outcome: string;
      try {
        outcome = (
          await executeAttempt({ db: flaky, events, log, running: new Map() }, { jobId: id, def, isLastAttempt, attemptsMade: 0 })
        ).kind;
      } catch (err) {
        outcome = `threw ${(err as Error).message}`; // run-job would step aside: fine
      }
      await events.close();
      const job = await h.jobs.get(h.tenantId, id);
      const seqs = (
        await h.database.db.query<{ seq: number }>(sql`SELECT seq FROM job_events WHERE job_id = ${id} ORDER BY seq`)
      ).map((r) => r.seq);
      expect(
        seqs.filter((s, i) => s !== i + 1),
        'seq gap in PostgreSQL',
      ).toEqual([]);
      expect(job.status).not.toBe('failed');
      expect(outcome).not.toBe('retry');
    });
  }
});
