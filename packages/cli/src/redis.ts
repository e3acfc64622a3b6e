/**
 * Redis for the one-process mode: the one at REDIS_URL if it answers, else a `redis-server`
 * from PATH started as a child with its data under the data dir, else a clear message.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_MISSING = `Spool needs Redis (6.2 or newer) and none answered.
Either start one and point REDIS_URL at it, or install redis-server so Spool can start its own:
  Debian/Ubuntu: sudo apt-get install redis-server     macOS: brew install redis
  Docker: docker run -d -p 6379:6379 redis:7 --maxmemory-policy noeviction
then run \`pnpm start\` again.`;

export async function answers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** This machine: `localhost`, 127.0.0.0/8 or ::1, in any case (a `redis:` URL's host is not lower-cased). */
function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

/** The URL to show: its password hidden, in the user part or as ioredis's `?password=`. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return 'a URL that does not parse';
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export interface OwnRedis {
  url: string;
  child: ChildProcess | undefined;
}

export async function ensureRedis(url: string, dataDir: string): Promise<OwnRedis> {
  if (await answers(url)) return { url, child: undefined };
  // A Redis on another host that does not answer is a mistake to report, not one to replace
  // with a private redis-server nobody else can reach.
  if (!isLoopback(url)) throw new Error(`Redis at ${withoutPassword(url)} (REDIS_URL) did not answer.`);
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error(REDIS_MISSING);
  const dir = join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  // AOF on and no eviction: the queue must survive a restart and never drop keys.
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  const own = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await answers(own, 200)) return { url: own, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`redis-server did not start on port ${port}`);
}
