/**
 * Baseline: the minimal front door. Raw node:http that reads and parses the JSON body and
 * does one BullMQ add, answering 202 — what a submit costs with no durability, auth or
 * validation. Spool's POST /v1/jobs is compared with this.
 */
import { createServer } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { RAW_JOB_OPTIONS, RAW_PREFIX, RAW_QUEUE, send } from './common.ts';

const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
const queue = new Queue(RAW_QUEUE, { connection, prefix: RAW_PREFIX });
queue.on('error', () => {});

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; input: unknown };
      const job = await queue.add(body.type, body.input, RAW_JOB_OPTIONS);
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
