/**
 * Spend caps under concurrency: each paid call holds its estimate until its cost is recorded,
 * so calls made at once count each other. Before holds, ten chat jobs against a slow model all
 * read the same spend and together passed a $0.05 daily cap by 60–80 % (an outside audit).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('spend caps with calls in flight', () => {
  let fake: FakeOpenAI;
  let stack: Stack;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    fake.always({ latencyMs: 800 });
    stack = await startStack({
      env: {
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini',
        SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/1000', // $0.001 per token, in and out
        SPOOL_TENANT_DAILY_BUDGET_USD: '0.05',
        SPOOL_MODEL_RETRIES: '0',
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await fake?.close();
  });

  it('ten jobs at once never spend past the daily cap, and every hold is released', async () => {
    const t = await stack.tenant('capped-at-once');
    const c = client(stack.url, t.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      // maxTokens makes each call's estimate about $0.02: the cap fits two calls in flight.
      const res = await c.submit({
        type: 'chat',
        input: { messages: [{ role: 'user', content: `question ${i}` }], maxTokens: 10 },
      });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    const jobs = await Promise.all(ids.map((id) => c.waitFor(id, undefined, 60_000)));
    const spent = jobs.reduce((n, j) => n + Number(j.usage?.costUsd ?? 0), 0);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(0.05);
    const refused = jobs.filter((j) => j.status === 'failed');
    expect(refused.length).toBeGreaterThan(0);
    for (const j of refused) expect(j.error).toMatchObject({ code: 'budget_exceeded', retryable: false });
    const budget = await fetch(`${stack.url}/v1/admin/tenants/${t.id}/budget`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    }).then((r) => r.json());
    expect(budget.spent.todayUsd).toBeCloseTo(spent, 8);
    const [held] = await stack.database.db.query<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM budget_holds WHERE tenant_id = ${t.id}`,
    );
    expect(held!.n).toBe(0);
  }, 90_000);
});
