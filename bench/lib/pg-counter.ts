/**
 * Counts the statements clients send to PostgreSQL, across processes, by reading the
 * frontend side of the wire protocol in a TCP proxy: one `Execute` (extended protocol, what
 * postgres.js uses) or one `Query` (simple protocol) is one statement. Each is filed under
 * the first words of its SQL, so a result can say which statements a job costs.
 * `pg_stat_statements` would need a server restart to load; this needs nothing.
 * Only used in the cost phase: the extra hop would distort latencies.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface StatementCounter {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  through(url: string): string;
  /** Statements since start (or the last reset), by SQL kind. */
  snapshot(): { total: number; byKind: Record<string, number> };
  reset(): void;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** "WITH claimed AS ( UPDATE jobs SET …" → a short, stable label. */
export function kindOf(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim().slice(0, 72);
}

export async function startStatementCounter(target: URL): Promise<StatementCounter> {
  let byKind = new Map<string, number>();
  let total = 0;
  const sockets = new Set<Socket>();
  const count = (sql: string) => {
    total++;
    const k = kindOf(sql);
    byKind.set(k, (byKind.get(k) ?? 0) + 1);
  };

  const onConnection = (client: Socket) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);

    let started = false; // past the (untyped) startup message
    let pending: Buffer = Buffer.alloc(0);
    const statements = new Map<string, string>(); // prepared statement name → SQL
    const portals = new Map<string, string>(); // portal → SQL
    const cstr = (buf: Buffer, at: number): [string, number] => {
      const end = buf.indexOf(0, at);
      return [buf.toString('utf8', at, end), end + 1];
    };
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (!started) {
          if (pending.length < 8) break;
          const len = pending.readInt32BE(0);
          if (pending.length < len) break;
          const code = pending.readInt32BE(4);
          if (code !== SSL_REQUEST && code !== GSS_REQUEST && code !== CANCEL_REQUEST) started = true;
          pending = pending.subarray(len);
          continue;
        }
        if (pending.length < 5) break;
        const len = pending.readInt32BE(1);
        if (pending.length < 1 + len) break;
        const type = String.fromCharCode(pending[0]!);
        const body = pending.subarray(5, 1 + len);
        if (type === 'P') {
          const [name, at] = cstr(body, 0);
          statements.set(name, cstr(body, at)[0]);
        } else if (type === 'B') {
          const [portal, at] = cstr(body, 0);
          portals.set(portal, statements.get(cstr(body, at)[0]) ?? '?');
        } else if (type === 'E') {
          count(portals.get(cstr(body, 0)[0]) ?? '?');
        } else if (type === 'Q') {
          count(cstr(body, 0)[0]);
        }
        pending = pending.subarray(1 + len);
      }
      if (pending.length) pending = Buffer.from(pending); // do not pin the whole chunk
    });
  };

  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    port,
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    snapshot: () => ({ total, byKind: Object.fromEntries(byKind) }),
    reset() {
      total = 0;
      byKind = new Map();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
