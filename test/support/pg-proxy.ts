/**
 * A TCP proxy in front of PostgreSQL that a test can cut, so "PostgreSQL is unreachable" can be
 * tested without stopping the machine's shared server.
 * - `refuse`: stops listening and resets every open connection (a crashed or stopped server).
 * - `blackhole`: keeps accepting but forwards nothing either way (a network partition).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createDatabase, type Database } from '@spool/core/db';
import type { TestDatabase } from './database.ts';
import { PG_ADMIN_URL } from './env.ts';
import { freePort } from './ports.ts';

export type CutMode = 'refuse' | 'blackhole';

export interface PgProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  cut(mode: CutMode): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startPgProxy(target = new URL(PG_ADMIN_URL)): Promise<PgProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let mode: CutMode | 'open' = 'open';
  let server: Server | undefined;

  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };

  const onConnection = (client: Socket) => {
    track(client);
    if (mode === 'blackhole') return; // accepted, never answered
    const upstream = connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    // Forward by hand (not pipe) so a later blackhole can drop bytes on open connections.
    client.on('data', (chunk) => void (mode === 'open' && upstream.write(chunk)));
    upstream.on('data', (chunk) => void (mode === 'open' && client.write(chunk)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };

  const listen = async () => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', resolve);
    });
    server = s;
  };
  const stopListening = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise((r) => s.close(r).unref());
  };
  const resetAll = () => {
    for (const s of sockets) s.resetAndDestroy();
  };

  await listen();
  return {
    port,
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async cut(m) {
      mode = m;
      if (m === 'refuse') {
        const closing = stopListening();
        resetAll();
        await closing;
      }
    },
    async restore() {
      // Connections that lived through a blackhole have lost bytes: end them, as a real
      // partition's TCP timeouts eventually would.
      resetAll();
      mode = 'open';
      if (!server) await listen();
    },
    async close() {
      mode = 'refuse';
      const closing = stopListening();
      resetAll();
      await closing;
    },
  };
}

/**
 * `database` (already created and migrated) reached through `proxy`: a TestDatabase whose
 * `db` is a second pool that goes through the proxy. `drop()` closes that pool and drops the
 * database (directly, not through the proxy).
 */
export async function throughProxy(database: TestDatabase, proxy: PgProxy, poolSize = 10): Promise<TestDatabase> {
  const url = proxy.through(database.url);
  const db: Database = await createDatabase({ url, dataDir: '', poolSize });
  return {
    url,
    db,
    async drop() {
      await db.close().catch(() => {});
      await database.drop();
    },
  };
}
