/**
 * Baseline: the minimal front door. Raw node:http that reads and parses the JSON body and
 * does one BullMQ add, answering 202 — what a submit costs with no durability, auth or
 * validation. Spool's POST /v1/jobs is compared with this.
 *
 * With DATABASE_URL set it is the naive durable front door: one INSERT (its own commit) into
 * `raw_jobs` before the add, the row's id as the BullMQ job id. It puts Spool's cost in context
 * (what the durability alone costs done the obvious way); the goals stay against the raw one.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { RAW_JOB_OPTIONS, RAW_PREFIX, RAW_QUEUE, send } from './common.ts';

const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
const queue = new Queue(RAW_QUEUE, { connection, prefix: RAW_PREFIX });
queue.on('error', () => {});
const sql = process.env.DATABASE_URL ? postgres(process.env.DATABASE_URL, { max: 10 }) : undefined;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; input: unknown };
      let opts = RAW_JOB_OPTIONS;
      if (sql) {
        const id = randomUUID();
        await sql`INSERT INTO raw_jobs (id, type, input) VALUES (${id}, ${body.type}, ${sql.json(body.input as never)})`;
        opts = { ...RAW_JOB_OPTIONS, jobId: id };
      }
      const job = await queue.add(body.type, body.input, opts);
      const out = JSON.stringify({ id: job.id, status: 'queued' });
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    } catch (err) {
      res.writeHead(400).end(String(err));
    }
  });
});
await new Promise((resolve) => connection.once('ready', resolve));
server.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (server.address() as { port: number }).port }));
