/**
 * Fault: kill -9 of a Spool process in the middle of an embedding batch, for `ingest` and
 * `embed-refresh`, on embedded PGlite. PGlite is one process's database, so the process is the
 * one-process mode (`pnpm start`: API and worker) on a data dir; after the kill the test opens
 * the same data dir itself to see where the job stood, closes it, and starts a new process on
 * it, which takes the job over once the dead one's BullMQ lock expires. The embedding model
 * is the fake OpenAI-compatible server in this test process: it holds each batch for a while
 * (so the kill lands inside one) and records every text sent.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase } from '@spool/core/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, spawnChild } from '../support/children.ts';
import { REDIS_URL, ROOT } from '../support/env.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { freePort, waitHealthy, waitUntil } from '../support/ports.ts';
import { client, randomPrefix } from '../support/stack.ts';

const MODEL = 'openai:text-embedding-3-small';
// Short, so the restarted process takes the job over soon; not so short that a lock renewal
// delayed on a loaded machine (the whole suite on 2 cores) lets BullMQ call the live job stalled.
const LOCK_MS = 5_000;
// Long enough that "batch n was sent" is still "batch n is in flight" when the kill lands.
const BATCH_LATENCY_MS = 1_500;

describe('fault: kill -9 during document embedding batches (PGlite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-dockill-'));
  const prefix = randomPrefix();
  const adminToken = 'doc-kill-admin-token';
  let fake: FakeOpenAI;
  let port: number;
  let proc: Child | undefined;
  let api: ReturnType<typeof client>;

  /** The one-process mode on the shared data dir; resolves once it answers. */
  const start = async () => {
    proc = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/cli/src/start.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        SPOOL_DATA_DIR: dataDir,
        REDIS_URL,
        SPOOL_QUEUE_PREFIX: prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        SPOOL_ADMIN_TOKEN: adminToken,
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        SPOOL_CHAT_MODELS: 'local',
        SPOOL_EMBED_MODEL: 'local',
        SPOOL_WORKER_LOCK_MS: String(LOCK_MS),
        SPOOL_RECONCILE_INTERVAL_MS: '1000',
        LOG_LEVEL: 'warn',
      },
    });
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(base, 60_000, proc);
    const creds = JSON.parse(readFileSync(join(dataDir, 'dev-credentials.json'), 'utf8')) as { apiKey: string };
    api = client(base, creds.apiKey);
  };

  /** kill -9 once the fake has received `calls` embedding requests (the last one still held). */
  const killAtCall = async (calls: number) => {
    await waitUntil(`embedding call ${calls}`, async () => (fake.count('embeddings') >= calls ? true : undefined), 60_000, 10);
    expect(fake.count('embeddings')).toBe(calls);
    proc!.proc.kill('SIGKILL');
    expect(await Promise.race([proc!.exited, new Promise((r) => setTimeout(() => r('still alive'), 5_000))])).toBe('SIGKILL');
    proc = undefined;
  };

  /** Reads the dead process's database (PGlite: nobody else has it open now). */
  const inspect = async <T>(jobId: string, read: (q: <R>(s: ReturnType<typeof sql>) => Promise<R[]>) => Promise<T>) => {
    const db = await createDatabase({ dataDir });
    try {
      const steps = await db.query<{ name: string; status: string; runs: number }>(
        sql`SELECT name, status, runs FROM job_steps WHERE job_id = ${jobId} ORDER BY position`,
      );
      return { steps: steps.map((s) => [s.name, s.status, s.runs]), extra: await read((s) => db.query(s)) };
    } finally {
      await db.close();
    }
  };

  const embeddedTexts = () => fake.calls.filter((c) => c.path.endsWith('/embeddings')).map((c) => c.body.input as string[]);

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    port = await freePort();
  });
  afterAll(async () => {
    await proc?.stop('SIGKILL');
    await fake?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ingest resumes at the interrupted batch: completed batches are not embedded again', async () => {
    await start();
    // ~200 chunks of 32 tokens: four batches of 64.
    const sentences = Array.from(
      { length: 200 },
      (_, i) => `Record ${i} notes that sample ${i * 7} stayed stable over ${i % 13} weeks of testing.`,
    );
    fake.always({ latencyMs: BATCH_LATENCY_MS });
    const res = await api.submit({
      type: 'ingest',
      input: {
        collection: 'kb',
        model: MODEL,
        chunkTokens: 32,
        overlapTokens: 0,
        documents: [{ id: 'log', text: sentences.join(' ') }],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id: string = res.body.id;
    await killAtCall(3);

    const atKill = await inspect(id, async () => undefined);
    expect(atKill.steps).toEqual([
      ['plan', 'completed', 1],
      ['embed-1', 'completed', 1],
      ['embed-2', 'completed', 1],
      ['embed-3', 'running', 1],
    ]);

    fake.always(undefined);
    await start();
    const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.attempts).toBe(2);
    const batches = Math.ceil(job.result.chunks / 64);
    expect(batches).toBeGreaterThanOrEqual(4);
    expect(job.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['plan', 'completed', 1],
      ...Array.from({ length: batches }, (_, i) => [`embed-${i + 1}`, 'completed', i === 2 ? 2 : 1]),
    ]);
    // One request per batch, plus the one in flight at the kill, sent again; batches 1–2 never again.
    const sent = embeddedTexts();
    expect(sent).toHaveLength(batches + 1);
    expect(sent[3]).toEqual(sent[2]);
    const texts = sent.flat();
    expect(new Set(texts).size).toBe(job.result.chunks);
    expect(texts.length).toBe(job.result.chunks + sent[2]!.length);
  }, 180_000);

  it('embed-refresh resumes after the last finished batch: each chunk is embedded once more only if its batch was cut', async () => {
    // The process started by the previous test is still up.
    const docs = Array.from({ length: 10 }, (_, i) => ({ id: `d${i}`, text: `Document ${i} is about topic number ${i * 11}.` }));
    const ingested = await api.submit({ type: 'ingest', input: { collection: 'notes', documents: docs } });
    expect((await api.waitFor(ingested.body.id)).status).toBe('completed');

    fake.reset();
    fake.always({ latencyMs: BATCH_LATENCY_MS });
    const res = await api.submit({ type: 'embed-refresh', input: { collection: 'notes', model: MODEL, batchSize: 3 } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id: string = res.body.id;
    await killAtCall(2);

    const atKill = await inspect(id, async (q) => ({
      chunks: await q<{ embedding_model: string; n: number }>(
        sql`SELECT embedding_model, count(*)::int AS n FROM chunks WHERE collection = 'notes' GROUP BY 1`,
      ),
      staged: await q<{ n: number }>(sql`SELECT count(*)::int AS n FROM chunk_embeddings WHERE collection = 'notes'`),
    }));
    expect(atKill.steps).toEqual([
      ['start', 'completed', 1],
      ['stage-1', 'completed', 1],
      ['stage-2', 'running', 1],
    ]);
    // Mid-refresh: the queries' vectors are all still the old model's; the new ones are staged beside them.
    expect(atKill.extra).toEqual({ chunks: [{ embedding_model: 'local', n: 10 }], staged: [{ n: 3 }] });

    fake.always(undefined);
    await start();
    const job = await api.waitFor(id, ['completed', 'failed', 'canceled'], 60_000);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.result).toEqual({ reembedded: 10, collection: 'notes', model: MODEL, previousModel: 'local' });
    expect(job.steps.map((s: any) => [s.name, s.status, s.runs])).toEqual([
      ['start', 'completed', 1],
      ['stage-1', 'completed', 1],
      ['stage-2', 'completed', 2],
      ['stage-3', 'completed', 1],
      ['stage-4', 'completed', 1],
      ['activate', 'completed', 1],
      ['sweep-1', 'completed', 1],
    ]);
    const sent = embeddedTexts();
    expect(sent.map((s) => s.length)).toEqual([3, 3, 3, 3, 1]);
    expect(sent[2]).toEqual(sent[1]); // only the batch cut by the kill was sent twice
    const once = [sent[0]!, ...sent.slice(2)].flat();
    expect(once.sort()).toEqual(docs.map((d) => d.text).sort());

    const q = await api.submit({ type: 'rag-query', input: { collection: 'notes', question: 'topic number 33', topK: 3 } });
    const answered = await api.waitFor(q.body.id);
    expect(answered.status).toBe('completed');
    const trace = (await api.call('GET', `/v1/jobs/${q.body.id}/trace`)).body.data;
    expect(trace.find((c: any) => c.step === 'retrieve').retrieval.embeddingModel).toBe(MODEL);
  }, 180_000);
});
