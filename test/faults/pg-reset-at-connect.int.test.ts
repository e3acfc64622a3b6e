/**
 * A connection reset while postgres.js, right after connecting, asks PostgreSQL for its array
 * types (a restart or failover at that moment). The query waiting for that connection fails,
 * the next connection works, and nothing is left as an unhandled rejection: with Node's default,
 * one ends the process (seen once as a worker crash during a PostgreSQL outage). Fixed by a
 * patch of postgres.js (patches/postgres@3.4.9.patch).
 */
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from '@spool/core/db';
import { sql } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.ts';

const database = await freshDatabase();
afterAll(() => database.drop());

it('fails the waiting query, then reconnects, with no unhandled rejection', async () => {
  const target = new URL(database.url);
  let resetAtTypes = true;
  const proxy = createServer((client: Socket) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    client.on('data', (chunk) => {
      // The array-type query postgres.js sends once authenticated.
      if (resetAtTypes && chunk.includes('typarray')) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const url = new URL(database.url);
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as { port: number }).port);

  const unhandled: unknown[] = [];
  const record = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', record);
  const db = await createDatabase({ url: url.toString(), dataDir: '', poolSize: 1 });
  try {
    await expect(db.query(sql`SELECT 1 AS one`)).rejects.toThrow();
    await sleep(200); // an unhandled rejection is reported after the turn that made it
    expect(unhandled).toEqual([]);

    resetAtTypes = false;
    expect(await db.query(sql`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
  } finally {
    process.off('unhandledRejection', record);
    await db.close();
    proxy.close();
  }
});
