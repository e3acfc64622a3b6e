/**
 * The arithmetic of spend caps (providers/budget.ts) against recorded spend in a fresh
 * database: sums compared in the stored unit, and the 402 naming the cap that resets last.
 */
import { newId } from '@spool/core/ids';
import { insertModelCall, setTenantBudget } from '@spool/core/model-calls';
import { Budgets, forgetTenantBudget } from '@spool/core/providers/budget';
import { createTenant } from '@spool/core/tenants';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let budgets: Budgets;
beforeAll(async () => {
  database = await freshDatabase();
  budgets = new Budgets(database.db, { dailyUsd: 0, monthlyUsd: 0 });
});
afterAll(() => database?.drop());

async function tenantWith(caps: { dailyUsd: number | null; monthlyUsd: number | null }, spentUsd: number) {
  const tenantId = (await createTenant(database.db, `caps-${newId()}`)).id;
  await setTenantBudget(database.db, tenantId, caps);
  forgetTenantBudget(tenantId);
  const jobId = newId();
  await database.db.query(
    sql`INSERT INTO jobs (id, tenant_id, type, status, input) VALUES (${jobId}, ${tenantId}, 'chat', 'completed', '{}'::jsonb)`,
  );
  await insertModelCall(database.db, {
    ...{ id: newId(), jobId, tenantId, jobType: 'chat', step: null, attempt: 1, callTry: 1, kind: 'chat' },
    ...{ provider: 'openai', model: 'gpt-4o-mini', promptVersion: null, status: 'ok', inputTokens: 1, outputTokens: 1 },
    ...{ costUsd: spentUsd, latencyMs: 1, cacheLayer: null, fallbackFrom: null, errorClass: null, errorMessage: null },
    ...{ redacted: false, injectionSuspected: false, retrieval: null },
  });
  return tenantId;
}

it('a call whose estimate exactly fills what is left of a cap is let through (0.1 + 0.2 is 0.3)', async () => {
  const tenantId = await tenantWith({ dailyUsd: 0.3, monthlyUsd: null }, 0.1);
  const release = await budgets.hold(tenantId, 0.2);
  await release();
  await expect(budgets.hold(tenantId, 0.20000001)).rejects.toMatchObject({ code: 'budget_exceeded' });
});

it('with both caps used up, the 402 names the monthly one: the daily reset would only be refused again', async () => {
  const tenantId = await tenantWith({ dailyUsd: 1, monthlyUsd: 1 }, 2);
  const err = await budgets.check(tenantId).catch((e: unknown) => e);
  const now = new Date();
  expect(err).toMatchObject({
    code: 'budget_exceeded',
    status: 402,
    details: { period: 'monthly', resetsAt: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString() },
  });
  // The daily cap alone is named when only it is used up.
  const daily = await tenantWith({ dailyUsd: 1, monthlyUsd: 10 }, 2);
  expect(await budgets.check(daily).catch((e: unknown) => e)).toMatchObject({ details: { period: 'daily' } });
});
