/**
 * The benchmark's own services: a private redis-server on a free loopback port (the shared
 * Redis on 6379 is never touched) and a fresh PostgreSQL database, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { createDatabase, type Database, migrate } from '@spool/core/db';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { type RedisServer, startRedisServer } from '../../test/support/redis-server.ts';
import { PG_ADMIN_URL } from './env.ts';

export interface BenchDatabase {
  name: string;
  url: string;
  /** A small pool for the harness's own reads (results, resets); not the system under test. */
  db: Database;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<BenchDatabase> {
  const name = `spool_bench_${randomBytes(5).toString('hex')}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const db = await createDatabase({ url: url.toString(), dataDir: '', poolSize: 2 });
  await migrate(db);
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  return {
    name,
    url: url.toString(),
    db,
    sql,
    async drop() {
      await sql.end({ timeout: 5 }).catch(() => {});
      await db.close().catch(() => {});
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end({ timeout: 5 });
    },
  };
}

export interface BenchRedis {
  server: RedisServer;
  url: string;
  port: number;
  /** A connection of the harness's own (INFO, resets). */
  client: Redis;
}

export async function privateRedis(): Promise<BenchRedis> {
  const server = await startRedisServer();
  const client = new Redis(server.url, { maxRetriesPerRequest: null });
  return { server, url: server.url, port: server.port, client };
}

/** `INFO commandstats` as {command: calls}. */
export async function commandStats(client: Redis): Promise<Record<string, number>> {
  const text = await client.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/**
 * Commands run between two snapshots, without the harness's own INFO calls. Commands run by
 * Lua scripts count too (Redis counts them), on both sides of a comparison alike.
 */
export function commandDelta(
  before: Record<string, number>,
  after: Record<string, number>,
): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [cmd, calls] of Object.entries(after)) {
    if (cmd === 'info') continue;
    const d = calls - (before[cmd] ?? 0);
    if (d > 0) {
      byCommand[cmd] = d;
      total += d;
    }
  }
  return { total, byCommand };
}
