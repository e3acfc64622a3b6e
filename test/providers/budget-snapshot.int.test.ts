/**
 * A spend hold sees the tenant's recorded spend and its holds in one snapshot. Read in two
 * statements, a call that recorded its cost and released its hold between them was in
 * neither, and two calls passed a cap together (an outside audit, with a stalled round trip).
 */
import type { Database } from '@spool/core/db';
import { newId } from '@spool/core/ids';
import { holdSpend, insertModelCall, releaseHold } from '@spool/core/model-calls';
import { createTenant } from '@spool/core/tenants';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await freshDatabase();
});
afterAll(() => database?.drop());

/** `builder` (a drizzle query), with `after` run once its rows are back and before its caller sees them. */
function pauseAfter<T extends object>(builder: T, after: () => Promise<void>): T {
  return new Proxy(builder, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'then')
        return (ok: (v: unknown) => unknown, fail: (e: unknown) => unknown) =>
          (target as unknown as Promise<unknown>)
            .then(async (rows) => {
              await after();
              return rows;
            })
            .then(ok, fail);
      return (...args: unknown[]) => pauseAfter(value.apply(target, args), after);
    },
  });
}

/** `db` whose transactions run `between` right after their first SELECT. */
function stallingAfterFirstRead(db: Database, between: () => Promise<void>): Database {
  const orm = new Proxy(db.orm, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver);
      return (work: (tx: object) => Promise<unknown>) =>
        target.transaction((tx) => {
          let reads = 0;
          const stalling = new Proxy(tx, {
            get(t, p, r) {
              if (p !== 'select') return Reflect.get(t, p, r);
              return (...args: Parameters<typeof t.select>) => {
                const query = t.select(...args);
                return ++reads === 1 ? pauseAfter(query, between) : query;
              };
            },
          });
          return work(stalling);
        });
    },
  });
  return { ...db, orm } as Database;
}

it('a call that records its cost and releases its hold while another reads the spend is seen once', async () => {
  const tenantId = (await createTenant(database.db, 'snapshot')).id;
  const cap = 0.012;
  const fits = (spend: { dayUsd: number }) => spend.dayUsd + 0.009 <= cap;
  // Call A holds its estimate ($0.009) while its request is in flight.
  const a = await holdSpend(database.db, tenantId, 0.009, 60_000, fits);
  expect(a.holdId).toBeDefined();

  // Call B starts reading the spend; meanwhile A's answer comes: its cost ($0.007) is recorded
  // and its hold released.
  const jobId = newId();
  await database.db.query(
    sql`INSERT INTO jobs (id, tenant_id, type, status, input) VALUES (${jobId}, ${tenantId}, 'chat', 'running', '{}'::jsonb)`,
  );
  const aAnswers = async () => {
    await insertModelCall(database.db, {
      id: newId(),
      jobId,
      tenantId,
      jobType: 'chat',
      step: null,
      attempt: 1,
      callTry: 1,
      kind: 'chat',
      provider: 'openai',
      model: 'gpt-4o-mini',
      promptVersion: null,
      status: 'ok',
      inputTokens: 5,
      outputTokens: 2,
      costUsd: 0.007,
      latencyMs: 1,
      cacheLayer: null,
      fallbackFrom: null,
      errorClass: null,
      errorMessage: null,
      redacted: false,
      injectionSuspected: false,
      retrieval: null,
    });
    await releaseHold(database.db, a.holdId!);
  };
  const b = await holdSpend(stallingAfterFirstRead(database.db, aAnswers), tenantId, 0.009, 60_000, fits);

  // B saw A (its hold or its cost), so $0.009 more would pass the $0.012 cap: refused.
  expect(b.spend.dayUsd).toBeGreaterThanOrEqual(0.007);
  expect(b.holdId).toBeUndefined();
});
