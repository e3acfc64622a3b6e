/**
 * A client process of the SSE scenario, in one of two roles (the harness runs one of each):
 * it holds many idle SSE subscribers open against the Spool API (one process runs out of file
 * descriptors and event-loop time long before 10,000 streams), or it measures event latency on
 * a few "probe" jobs. The roles are kept apart so that latency is not read by a process busy
 * with 10,000 sockets.
 *
 * Event latency is taken against raw Redis pub/sub in this same process: a plain ioredis
 * subscriber listens on the probe jobs' channels, and for every event (job, seq) the hop is
 * SSE arrival − pub/sub arrival. Both clocks are this process's, so the hop is exactly what
 * Spool adds over a raw subscriber. A ping channel gives pub/sub's own latency (the parent
 * publishes its send time), so event latency ≈ pub/sub latency + hop.
 */
import { Agent, type ClientRequest, get } from 'node:http';
import { Redis } from 'ioredis';
import { onMessage, send } from '../baselines/common.ts';
import { nowMs, summarize } from '../lib/stats.ts';

const API_URL = process.env.API_URL!;
const API_KEY = process.env.API_KEY!;
const PREFIX = process.env.PREFIX!;
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
const idle = new Set<ClientRequest>();
let idleClosed = 0;

const sub = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const rawArrival = new Map<string, number>(); // `${jobId}:${seq}` → ms
const sseArrival = new Map<string, number>();
const pings: number[] = [];
let probing: { channels: string[]; requests: ClientRequest[]; pingChannel: string } | undefined;
let recording = false;

sub.on('message', (channel: string, message: string) => {
  const t = nowMs();
  if (!recording) return;
  if (channel === probing?.pingChannel) {
    pings.push(t - Number(message));
    return;
  }
  const jobId = channel.slice(channel.lastIndexOf(':') + 1);
  const seq = (JSON.parse(message) as { seq: number }).seq;
  rawArrival.set(`${jobId}:${seq}`, t);
});

/** Opens one stream; resolves at its first bytes (the replay), so the subscription is live. */
function open(jobId: string, onChunk?: (chunk: string, t: number) => void): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = get(
      `${API_URL}/v1/jobs/${jobId}/events`,
      { agent, headers: { authorization: `Bearer ${API_KEY}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`SSE ${jobId}: ${res.statusCode}`));
          return;
        }
        let first = true;
        res.on('data', (chunk: Buffer) => {
          const t = nowMs();
          onChunk?.(chunk.toString(), t);
          if (first) {
            first = false;
            resolve(req);
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('SSE open timed out')));
  });
}

/** Runs `fn` over `items` with at most `parallel` in flight. */
async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

onMessage(async (m) => {
  if (m.type === 'open') {
    const started = nowMs();
    let failed = 0;
    let firstError: string | undefined;
    await pool(m.ids as string[], m.parallel ?? 100, async (id) => {
      try {
        const req = await open(id);
        req.setTimeout(0);
        idle.add(req);
        req.on('close', () => {
          if (idle.delete(req)) idleClosed++;
        });
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    });
    send({ type: 'opened', open: idle.size, failed, firstError, ms: nowMs() - started });
  } else if (m.type === 'probe') {
    rawArrival.clear();
    sseArrival.clear();
    pings.length = 0;
    const ids = m.ids as string[];
    const channels = ids.map((id) => `${PREFIX}:ev:${id}`);
    await sub.subscribe(...channels, m.pingChannel);
    recording = true;
    const requests = await Promise.all(
      ids.map((id) => {
        let buf = '';
        return open(id, (chunk, t) => {
          buf += chunk;
          let end = buf.indexOf('\n\n');
          while (end >= 0) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const seq = /^id: (\d+)$/m.exec(frame)?.[1];
            if (seq) sseArrival.set(`${id}:${seq}`, t);
            end = buf.indexOf('\n\n');
          }
        });
      }),
    );
    probing = { channels, requests, pingChannel: m.pingChannel };
    send({ type: 'probing' });
  } else if (m.type === 'report') {
    recording = false;
    const hops: number[] = [];
    for (const [key, tRaw] of rawArrival) {
      const tSse = sseArrival.get(key);
      if (tSse !== undefined) hops.push(tSse - tRaw);
    }
    if (probing) {
      for (const r of probing.requests) r.destroy();
      await sub.unsubscribe(...probing.channels, probing.pingChannel);
      probing = undefined;
    }
    send({
      type: 'report',
      events: { raw: rawArrival.size, sse: sseArrival.size, paired: hops.length },
      hopMs: summarize(hops),
      pubsubMs: summarize(pings),
      idleOpen: idle.size,
      idleClosed,
      rss: process.memoryUsage().rss,
    });
  } else if (m.type === 'close') {
    for (const r of idle) r.destroy();
    idle.clear();
    await sub.quit().catch(() => {});
    send({ type: 'closed' });
    process.exit(0);
  }
});

send({ type: 'ready' });
