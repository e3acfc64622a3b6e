/**
 * The semantic cache on pgvector: `chat` jobs on embedded PGlite (with pgvector) through the
 * API and an in-process worker, the real `openai` SDK against the fake OpenAI server. A
 * near-identical question is answered from the `semantic_cache` table; a different question,
 * another tenant and an expired entry miss; expired rows are pruned. On the PostgreSQL server
 * (no pgvector) the same service keeps the cache in Redis.
 */
import { budgetEnv, loadEnv, providerEnv } from '@spool/core/env';
import { newId } from '@spool/core/ids';
import { createLogger } from '@spool/core/logger';
import { createModelService, type JobScope, modelsConfig } from '@spool/core/providers';
import { createRedis, type Redis } from '@spool/core/redis';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.ts';
import { REDIS_URL } from '../support/env.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freshPglite } from '../support/pglite.ts';
import { client, type Stack, startStack } from '../support/stack.ts';

const log = createLogger(process.env.LOG_LEVEL ?? 'silent');
const user = (content: string) => [{ role: 'user' as const, content }];

let fake: FakeOpenAI;
let redis: Redis;
const modelEnv = () => ({
  OPENAI_BASE_URL: fake.url,
  OPENAI_API_KEY: 'sk-test',
  SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini,local',
  SPOOL_MODEL_RETRY_BASE_MS: '20',
  SPOOL_MODEL_RETRY_MAX_MS: '200',
});

beforeAll(async () => {
  fake = await startFakeOpenAI();
  redis = createRedis(REDIS_URL, 'worker');
});
afterAll(async () => {
  await fake?.close();
  await redis?.quit().catch(() => {});
});
beforeEach(() => fake.reset());

describe('semantic cache on pgvector (PGlite)', () => {
  let stack: Stack;
  let a: ReturnType<typeof client>;
  let b: ReturnType<typeof client>;
  let tenantA: string;

  beforeAll(async () => {
    stack = await startStack({ database: await freshPglite(), env: modelEnv() });
    expect(stack.database.db.vectors).toBe(true);
    const ta = await stack.tenant('tenant-a');
    tenantA = ta.id;
    a = client(stack.url, ta.apiKey);
    b = client(stack.url, (await stack.tenant('tenant-b')).apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  const ask = async (c: ReturnType<typeof client>, question: string) => {
    const res = await c.submit({ type: 'chat', input: { messages: user(question), cache: 'semantic' } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const job = await c.waitFor(res.body.id);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    return job;
  };
  const rows = (tenantId: string) =>
    stack.database.db.query<{ embedding_model: string; embedding_dims: number; answer: { content: string } }>(
      sql`SELECT embedding_model, embedding_dims, answer FROM semantic_cache WHERE tenant_id = ${tenantId}`,
    );

  it('answers a near-identical question from the semantic_cache table, traced as semantic', async () => {
    const first = await ask(a, 'What is the capital of France?');
    expect(first.result).toMatchObject({ cached: false, model: 'openai:gpt-4o-mini' });
    const stored = await rows(tenantA);
    expect(stored).toEqual([
      { embedding_model: 'local', embedding_dims: 384, answer: expect.objectContaining({ content: first.result.content }) },
    ]);

    const second = await ask(a, 'what is the capital of france');
    expect(second.result).toMatchObject({
      cached: 'semantic',
      content: first.result.content,
      model: 'openai:gpt-4o-mini',
      usage: { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    });
    expect(fake.count('chat/completions')).toBe(1);
    const trace = await a.call('GET', `/v1/jobs/${second.id}/trace`);
    expect(trace.status).toBe(200);
    // The question's embedding (SPOOL_EMBED_MODEL, here the free local one), then the hit.
    expect(trace.body.data.map((r: any) => [r.kind, r.provider, r.status, r.cacheLayer])).toEqual([
      ['embed', 'local', 'ok', null],
      ['chat', 'openai', 'cached', 'semantic'],
    ]);
    // The pgvector store answered: nothing went to the Redis semantic store.
    expect(await redis.keys(`${stack.prefix}:cache:s:*`)).toEqual([]);
  });

  it('a different question misses', async () => {
    const job = await ask(a, 'How do I bake sourdough bread at home?');
    expect(job.result).toMatchObject({ cached: false, content: 'echo: How do I bake sourdough bread at home?' });
    expect(fake.count('chat/completions')).toBe(1);
  });

  it('another tenant’s near-identical question misses', async () => {
    const job = await ask(b, 'what is the capital of france');
    expect(job.result.cached).toBe(false);
    expect(fake.count('chat/completions')).toBe(1);
    const trace = await b.call('GET', `/v1/jobs/${job.id}/trace`);
    expect(trace.body.data.map((r: any) => r.cacheLayer)).not.toContain('semantic');
  });

  it('an expired entry misses, and a later write prunes it', async () => {
    // A second service on the same PGlite with a 1 s TTL: real time passes, on the database clock.
    const models = await createModelService({
      db: stack.database.db,
      redis,
      prefix: stack.prefix,
      log,
      config: modelsConfig(loadEnv(providerEnv.merge(budgetEnv), { ...modelEnv(), SPOOL_CACHE_TTL_S: '1' })),
    });
    expect(models.semantic.backend).toBe('pgvector');
    const job = async (): Promise<JobScope> => {
      const id = newId();
      await stack.database.db.query(
        sql`INSERT INTO jobs (id, tenant_id, type, status, input) VALUES (${id}, ${tenantA}, 'chat', 'running', '{}'::jsonb)`,
      );
      return {
        jobId: id,
        tenantId: tenantA,
        type: 'chat',
        attempt: 1,
        signal: new AbortController().signal,
        log,
        emit: () => {},
      };
    };
    const chat = async (q: string) => models.forJob(await job()).chat({ messages: user(q), cache: 'semantic' });
    const count = async () =>
      Number((await stack.database.db.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM semantic_cache`))[0]!.n);

    expect((await chat('Which river flows through Vienna?')).cached).toBe(false);
    expect((await chat('which river flows through vienna')).cached).toBe('semantic');
    const before = await count();
    await new Promise((r) => setTimeout(r, 1_300));

    const stale = await chat('Which river flows through Vienna ?');
    expect(stale.cached).toBe(false);
    expect(fake.count('chat/completions')).toBe(2);
    // That miss stored a fresh row and deleted the expired one.
    expect(await count()).toBe(before);
    const expired = await stack.database.db.query(sql`SELECT id FROM semantic_cache WHERE expires_at <= now()`);
    expect(expired).toEqual([]);
  });
});

describe('semantic cache without pgvector', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('on the PostgreSQL server the vector migration is skipped and the cache stays in Redis', async () => {
    expect(database.db.vectors).toBe(false);
    const [table] = await database.db.query<{ t: string | null }>(sql`SELECT to_regclass('semantic_cache')::text AS t`);
    expect(table!.t).toBeNull();
    const models = await createModelService({
      db: database.db,
      redis,
      prefix: `spooltest-${newId()}`,
      log,
      config: modelsConfig(loadEnv(providerEnv.merge(budgetEnv), modelEnv())),
    });
    expect(models.semantic.backend).toBe('redis');
  });
});
