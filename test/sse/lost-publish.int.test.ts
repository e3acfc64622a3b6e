/**
 * A live stream whose job's events were written to PostgreSQL but never published (a closing
 * write whose reply was lost, so its worker never published the end; or a message dropped
 * while the API's subscriber reconnected) still ends: the API's event hub reads the stored
 * last seq of the jobs it follows and the stream reads what it missed from storage.
 */
import { claimJob, endAttempt } from '@spool/core/store/lease';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaw } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('SSE: events stored but never published', () => {
  let stack: Stack;
  let api: ReturnType<typeof client>;
  let apiKey: string;

  beforeAll(async () => {
    // No worker: the test writes the attempt itself, the way a worker does, and publishes nothing.
    stack = await startStack({ worker: false, sseCheckMs: 200 });
    apiKey = (await stack.tenant('lost-publish')).apiKey;
    api = client(stack.url, apiKey);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('a live stream gets the missed events from storage, in order, and ends at the terminal one', async () => {
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id;
    const stream = await openRaw(stack.url, apiKey, id);
    try {
      expect(stream.status).toBe(200);
      expect((await stream.events((e) => e.id === 1, 5_000)).map((e) => e.event)).toEqual(['status']);

      const db = stack.database.db;
      const claim = await claimJob(db, { jobId: id, seqFloor: 0, attemptsMade: 0 });
      expect(claim?.last_seq).toBe(2);
      const end = await endAttempt(db, {
        jobId: id,
        attempt: claim!.attempts,
        status: 'completed',
        attemptsMade: 0,
        result: { steps: 1 },
        events: [{ seq: 3, type: 'completed', data: { result: { steps: 1 } } }],
      });
      expect(end.ok).toBe(true);

      const rest = await stream.events(undefined, 5_000);
      expect(rest.map((e) => [e.id, e.event])).toEqual([
        [2, 'status'],
        [3, 'completed'],
      ]);
      expect(await stream.next(1_000)).toBeUndefined(); // the server closed the stream
    } finally {
      stream.close();
    }
  });

  it('a stream that has seen every stored event reads nothing more from storage', async () => {
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id;
    const stream = await openRaw(stack.url, apiKey, id);
    await stream.events((e) => e.id === 1, 5_000);
    let reads = 0;
    const counted = stack.api.db.query;
    stack.api.db.query = (statement) => {
      if (/FROM job_events WHERE job_id/.test(new PgDialect().sqlToQuery(statement).sql)) reads++;
      return counted(statement);
    };
    try {
      // Ten checks of a job whose stored last seq is the one the stream has sent.
      const { frames, ended } = await stream.during(2_000);
      expect(ended).toBe(false);
      expect(frames).toEqual([]);
      expect(reads).toBe(0);
    } finally {
      stack.api.db.query = counted;
      stream.close();
    }
  });
});
