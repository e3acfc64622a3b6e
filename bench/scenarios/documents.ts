/**
 * Document workloads on embedded PGlite with its vector extension (the machine's PostgreSQL
 * has no pgvector): ingest throughput with the local embedder, and `rag-query` retrieval
 * latency at growing corpus sizes, against a raw pgvector query on the same data.
 *
 * Spool runs as `pnpm start` does (packages/cli/src/start.ts: API and worker in one process on a
 * PGlite data dir). PGlite is one process's database, so the corpus is grown between
 * measurements with Spool stopped: the harness opens the data dir itself and writes chunks
 * through Spool's own store functions, with the HNSW index dropped during the load and built
 * again after it (how any bulk load into pgvector is done; incremental HNSW inserts in WASM
 * cost tens of milliseconds per row). The raw baseline runs on that same open data dir.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, type Database } from '@spool/core/db';
import { type ChunkUpsert, upsertChunks, upsertDocument } from '@spool/core/documents/store';
import { localEmbedding } from '@spool/core/providers';
import { countTokens } from '@spool/core/providers/tokens';
import { sql } from 'drizzle-orm';
import { ensureCollection } from '../../packages/core/src/documents/collections.ts';
import { freePort, waitHealthy } from '../../test/support/ports.ts';
import type { Ctx } from '../lib/context.ts';
import { type NodeChild, startNode } from '../lib/proc.ts';
import { spoolClient } from '../lib/spool.ts';
import { percentile, sleep } from '../lib/stats.ts';

export interface Latency {
  n: number;
  p50: number;
  p95: number;
}

export interface RetrievalAt {
  chunks: number;
  /** The vector search statement inside the `retrieve` step (from the job's trace). */
  searchMs: Latency;
  /** The whole `retrieve` step: question embedding, search, trace write (from the job's steps). */
  stepMs: Latency;
  /** Raw pgvector on the same data: `ORDER BY embedding <=> q LIMIT k`, no tenant or access filter. */
  rawMs: Latency;
  /**
   * Recall@k against an exact scan (the HNSW index bypassed): the share of the exact top k that
   * Spool's retrieval returned, and that the raw index query returned. HNSW is approximate.
   */
  recall: number;
  rawRecall: number;
  /** The raw index query again with `hnsw.ef_search` raised (what SPOOL_VECTOR_EF_SEARCH sets). */
  rawWide: { efSearch: number; ms: Latency; recall: number };
  /** Seconds the harness took to grow the corpus to this size and rebuild the index (not Spool). */
  loadSeconds: number;
}

export interface DocumentResults {
  ingest: { jobs: number; documents: number; chunks: number; seconds: number; chunksPerSec: number };
  retrieval: RetrievalAt[];
  pgvector: string;
}

const COLLECTION = 'bench';
const TOP_K = 5;
/** Words per preloaded chunk: about as many tokens as an ingested chunk of 400 tokens. */
const PRELOAD_CHUNK_WORDS = 300;

export async function runDocuments(ctx: Ctx): Promise<DocumentResults> {
  const { s, log } = ctx;
  const dataDir = mkdtempSync(join(tmpdir(), 'spool-bench-docs-'));
  const env = {
    SPOOL_DATA_DIR: dataDir,
    REDIS_URL: ctx.redis.url,
    SPOOL_QUEUE_PREFIX: `spoolbench-docs-${process.pid}`,
    HOST: '127.0.0.1',
    SPOOL_CHAT_MODELS: 'local',
    SPOOL_EMBED_MODEL: 'local',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };
  const corpus = new Corpus(7);
  let spool: Started | undefined;
  try {
    log(`documents: one-process Spool on PGlite; ingesting ${s.ingestDocuments} documents`);
    spool = await startOneProcess(env, dataDir);
    const ingest = await measureIngest(spool, corpus, s.ingestDocuments, log);
    const retrieval: RetrievalAt[] = [];
    let pgvector = '?';
    let chunks = ingest.chunks;
    for (const size of s.retrievalSizes) {
      await spool.child.stop();
      spool = undefined;
      const db = await createDatabase({ dataDir });
      let loadSeconds = 0;
      let raw: Awaited<ReturnType<typeof rawSearch>>;
      const questions = corpus.questions(s.retrievalQueries);
      try {
        if (size > chunks) {
          log(`documents: growing the corpus to ${size.toLocaleString('en-US')} chunks (index rebuilt after the load)`);
          const started = performance.now();
          chunks = await preload(db, tenantOf(dataDir), corpus, size - chunks, chunks);
          loadSeconds = (performance.now() - started) / 1000;
        }
        raw = await rawSearch(db, questions);
        pgvector = await pgvectorVersion(db);
      } finally {
        await db.close();
      }
      spool = await startOneProcess(env, dataDir);
      log(`documents: ${questions.length} rag-query jobs one at a time at ${chunks.toLocaleString('en-US')} chunks`);
      const spoolSide = await measureRetrieval(spool, questions, raw.exact);
      retrieval.push({ chunks, ...spoolSide, rawMs: raw.ms, rawRecall: raw.recall, rawWide: raw.wide, loadSeconds });
    }
    return { ingest, retrieval, pgvector };
  } finally {
    await spool?.child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Spool, the way `pnpm start` runs it

interface Started {
  child: NodeChild;
  url: string;
  client: ReturnType<typeof spoolClient>;
}

async function startOneProcess(env: Record<string, string>, dataDir: string): Promise<Started> {
  const port = await freePort();
  const child = startNode('packages/cli/src/start.ts', { ...env, PORT: String(port) }, { profile: true });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, 120_000, child);
  const creds = JSON.parse(readFileSync(join(dataDir, 'dev-credentials.json'), 'utf8')) as { apiKey: string };
  return { child, url, client: spoolClient(url, creds.apiKey) };
}

const tenantOf = (dataDir: string) =>
  (JSON.parse(readFileSync(join(dataDir, 'dev-credentials.json'), 'utf8')) as { tenantId: string }).tenantId;

async function getJson(spool: Started, path: string): Promise<any> {
  const res = await fetch(`${spool.url}${path}`, { headers: spool.client.headers });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Polls a job until it ends; throws unless it completed. */
async function finished(spool: Started, id: string, everyMs: number): Promise<any> {
  for (;;) {
    const job = await getJson(spool, `/v1/jobs/${id}`);
    if (job.status === 'completed') return job;
    if (job.status === 'failed' || job.status === 'canceled')
      throw new Error(`job ${id} ${job.status}: ${JSON.stringify(job.error)}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Ingest: jobs of 25 documents, submitted together, run by the worker (ingest concurrency)

const DOCS_PER_JOB = 25;

async function measureIngest(spool: Started, corpus: Corpus, documents: number, log: Ctx['log']) {
  const ids: string[] = [];
  for (let d = 0; d < documents; d += DOCS_PER_JOB) {
    const docs = corpus.documents(d, Math.min(DOCS_PER_JOB, documents - d));
    ids.push((await spool.client.submit({ type: 'ingest', input: { collection: COLLECTION, documents: docs } })).id);
  }
  const jobs = [];
  for (const id of ids) jobs.push(await finished(spool, id, 200));
  const chunks = jobs.reduce((n, j) => n + j.result.chunks, 0);
  const start = Math.min(...jobs.map((j) => Date.parse(j.startedAt)));
  const end = Math.max(...jobs.map((j) => Date.parse(j.finishedAt)));
  const seconds = (end - start) / 1000;
  log(`documents: ingested ${chunks} chunks in ${seconds.toFixed(1)} s`);
  return { jobs: ids.length, documents, chunks, seconds, chunksPerSec: chunks / seconds };
}

// ---------------------------------------------------------------------------------------------
// Retrieval

interface Question {
  question: string;
  documentId: string;
}

const latency = (samples: number[]): Latency => ({
  n: samples.length,
  p50: percentile(samples, 50),
  p95: percentile(samples, 95),
});
const overlap = (got: string[], exact: string[]) => got.filter((id) => exact.includes(id)).length / Math.max(1, exact.length);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

async function measureRetrieval(spool: Started, questions: Question[], exact: string[][]) {
  const search: number[] = [];
  const step: number[] = [];
  const recall: number[] = [];
  // Warm-up: the first query of a fresh process loads the index pages.
  await finished(
    spool,
    (await spool.client.submit({ type: 'rag-query', input: { collection: COLLECTION, question: questions[0]!.question } })).id,
    5,
  );
  for (const [i, q] of questions.entries()) {
    const { id } = await spool.client.submit({
      type: 'rag-query',
      input: { collection: COLLECTION, question: q.question, topK: TOP_K },
    });
    const job = await finished(spool, id, 5);
    const retrieve = job.steps.find((x: any) => x.name === 'retrieve');
    step.push(Date.parse(retrieve.finishedAt) - Date.parse(retrieve.startedAt));
    const trace = await getJson(spool, `/v1/jobs/${id}/trace`);
    const { retrieval } = trace.data.find((c: any) => c.retrieval);
    search.push(retrieval.searchMs);
    recall.push(
      overlap(
        retrieval.chunks.map((c: any) => c.chunkId),
        exact[i]!,
      ),
    );
  }
  return { searchMs: latency(search), stepMs: latency(step), recall: mean(recall) };
}

/**
 * The baseline: the same questions as a bare pgvector top-k over the whole table, timed; and
 * each one again as an exact scan (index scans off), the truth recall is measured against.
 */
async function rawSearch(db: Database, questions: Question[]) {
  const top = (v: string) =>
    db.query<{ id: string }>(sql`
      SELECT id FROM chunks WHERE embedding_dims = 384
      ORDER BY embedding::vector(384) <=> ${v}::vector(384) LIMIT ${TOP_K}`);
  const vectors = questions.map((q) => `[${localEmbedding(q.question).join(',')}]`);
  await top(vectors[0]!);
  const timed = async () => {
    const samples: number[] = [];
    const found: string[][] = [];
    for (const v of vectors) {
      const started = performance.now();
      const rows = await top(v);
      samples.push(performance.now() - started);
      found.push(rows.map((r) => r.id));
    }
    return { samples, found };
  };
  const approximate = await timed();
  await db.query(sql.raw(`SET hnsw.ef_search = ${WIDE_EF_SEARCH}`));
  const wide = await timed();
  await db.query(sql`RESET hnsw.ef_search`);
  await db.query(sql`SET enable_indexscan = off`);
  const exact: string[][] = [];
  for (const v of vectors) exact.push((await top(v)).map((r) => r.id));
  await db.query(sql`RESET enable_indexscan`);
  const recall = (found: string[][]) => mean(found.map((ids, i) => overlap(ids, exact[i]!)));
  return {
    ms: latency(approximate.samples),
    exact,
    recall: recall(approximate.found),
    wide: { efSearch: WIDE_EF_SEARCH, ms: latency(wide.samples), recall: recall(wide.found) },
  };
}

/** A wider HNSW search than pgvector's default 40, to show what SPOOL_VECTOR_EF_SEARCH trades. */
const WIDE_EF_SEARCH = 200;

async function pgvectorVersion(db: Database): Promise<string> {
  const [row] = await db.query<{ extversion: string }>(sql`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
  return row?.extversion ?? '?';
}

// ---------------------------------------------------------------------------------------------
// Growing the corpus through Spool's store functions

const PRELOAD_BATCH = 200;
const CHUNKS_PER_PRELOADED_DOC = 10;

async function preload(db: Database, tenantId: string, corpus: Corpus, add: number, have: number): Promise<number> {
  const [index] = await db.query<{ indexdef: string }>(
    sql`SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_384_hnsw'`,
  );
  if (!index) throw new Error('chunks_embedding_384_hnsw is missing: migrations changed?');
  await db.query(sql`DROP INDEX chunks_embedding_384_hnsw`);
  const model = await ensureCollection(db, tenantId, COLLECTION, 'local', undefined);
  let written = 0;
  while (written < add) {
    const rows: ChunkUpsert[] = [];
    while (rows.length < PRELOAD_BATCH && written + rows.length < add) {
      const documentId = `pre-${have + written + rows.length}`;
      const n = Math.min(CHUNKS_PER_PRELOADED_DOC, add - written - rows.length);
      const texts = Array.from({ length: n }, () => corpus.words(PRELOAD_CHUNK_WORDS));
      await upsertDocument(db, {
        tenantId,
        id: documentId,
        collection: COLLECTION,
        title: null,
        contentHash: documentId,
        metadata: null,
        accessLevel: 'public',
        chunkHashes: texts.map((_, index) => `${documentId}:${index}`),
        model,
        tokens: 0,
        ingestJobId: 'bench-preload',
      });
      for (const [index, text] of texts.entries()) {
        rows.push({
          tenantId,
          collection: COLLECTION,
          documentId,
          index,
          text,
          tokens: countTokens(text),
          hash: `${documentId}:${index}`,
          metadata: null,
          accessLevel: 'public',
          model,
          embedding: localEmbedding(text),
          ingestJobId: 'bench-preload',
        });
      }
    }
    if (!(await upsertChunks(db, rows))) throw new Error('preload: the collection model changed');
    written += rows.length;
  }
  // The build needs its graph in maintenance_work_mem to be fast; 512 MB fits 100k 384-d
  // vectors and stays inside PGlite's WASM heap (1 GB does not).
  await db.query(sql`SET maintenance_work_mem = '512MB'`);
  await db.query(sql.raw(index.indexdef));
  await db.query(sql`ANALYZE chunks`);
  return have + written;
}

// ---------------------------------------------------------------------------------------------
// A deterministic synthetic corpus with the statistics of text: made-up words of 3 to 9
// letters drawn with Zipf frequencies (a few very common words, a long tail of rare ones).

class Corpus {
  private state: number;
  private readonly vocabulary: string[];
  /** Cumulative Zipf weights over the vocabulary. */
  private readonly cumulative: number[] = [];
  private readonly made = new Map<string, string>();

  constructor(seed: number) {
    this.state = seed;
    const letters = 'etaoinshrdlcumwfgypbvkjxqz'; // by English frequency, drawn geometrically
    this.vocabulary = Array.from({ length: 20_000 }, () =>
      Array.from({ length: 3 + this.int(7) }, () => letters[Math.min(25, Math.floor(-Math.log(1 - this.next()) * 6))]).join(''),
    );
    let total = 0;
    for (let rank = 1; rank <= this.vocabulary.length; rank++) {
      total += 1 / rank;
      this.cumulative.push(total);
    }
  }

  /** mulberry32 */
  private next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private int(n: number): number {
    return Math.floor(this.next() * n);
  }

  private word(): string {
    const x = this.next() * this.cumulative.at(-1)!;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return this.vocabulary[lo]!;
  }

  words(n: number): string {
    return `${Array.from({ length: n }, () => this.word()).join(' ')}.`;
  }

  /** Documents `from` … `from + n - 1`, about five chunks of 400 tokens each, as Markdown. */
  documents(from: number, n: number) {
    return Array.from({ length: n }, (_, k) => {
      const id = `doc-${from + k}`;
      const paragraphs = Array.from({ length: 12 }, () => Array.from({ length: 8 }, () => this.words(8 + this.int(8))).join(' '));
      const text = `# Document ${from + k}\n\n${paragraphs.join('\n\n')}`;
      this.made.set(id, text);
      return { id, text, contentType: 'markdown' as const };
    });
  }

  /** Questions made of eight consecutive words of an ingested document. */
  questions(n: number): Question[] {
    const ids = [...this.made.keys()];
    return Array.from({ length: n }, () => {
      const documentId = ids[this.int(ids.length)]!;
      const words = this.made
        .get(documentId)!
        .replace(/[#.\n]/g, ' ')
        .split(/\s+/)
        .filter(Boolean);
      const at = this.int(words.length - 8);
      return { documentId, question: `${words.slice(at, at + 8).join(' ')}?` };
    });
  }
}
