/**
 * `pnpm bench` — Spool against raw Redis, raw node:http and raw BullMQ, in one run on this
 * machine, so ratios mean something where absolute numbers would not.
 *
 *   pnpm bench             full run (about 13 minutes); writes bench/results/<date>.{json,md,svg}
 *                          and bench/results/latest.{md,svg}
 *   pnpm bench --quick     smoke run (about 2 minutes); writes bench/results/<date>-quick.*
 *   pnpm bench --label x   adds "-x" to the file names (e.g. before/after a change)
 *   pnpm bench --profile d Spool's API and worker processes write V8 CPU profiles into d
 *
 * Starts its own redis-server on a free loopback port and a fresh PostgreSQL database on
 * SPOOL_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres), dropped at the end.
 * See bench/README.md for how to read the results.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { type Ctx, settings } from './lib/context.ts';
import { ROOT } from './lib/env.ts';
import { freshDatabase, privateRedis } from './lib/infra.ts';
import { profileInto } from './lib/proc.ts';
import { goals, markdown, type RunResults, svgChart } from './lib/report.ts';
import { createTenant, startApi } from './lib/spool.ts';
import { runBaselines } from './scenarios/baselines.ts';
import { runCost } from './scenarios/cost.ts';
import { runDocuments } from './scenarios/documents.ts';
import { runDrain } from './scenarios/drain.ts';
import { runHttp } from './scenarios/http.ts';
import { resetSpool, runSpool, type SpoolSession } from './scenarios/spool.ts';
import { runSse } from './scenarios/sse.ts';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
/** The value after `--name`, unless it is missing or another flag. */
const option = (name: string) => {
  const at = argv.indexOf(name);
  const value = at >= 0 ? argv[at + 1] : undefined;
  return at < 0 ? undefined : value && !value.startsWith('--') ? value : '';
};
const label = option('--label')?.replace(/[^\w.-]/g, '') || undefined;
const profile = option('--profile');
if (profile !== undefined) profileInto(resolve(profile || 'bench/profiles'));
const s = settings(quick);
const started = Date.now();
const log = (message: string) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}`);

const git = (...args: string[]) => {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};

log(`${quick ? 'quick' : 'full'} run: private Redis and a fresh PostgreSQL database`);
const redis = await privateRedis();
const database = await freshDatabase();
const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    await redis.client.quit().catch(() => {});
    await redis.server.stop();
    await database.drop();
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping children, dropping ${database.name}`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const ctx: Ctx = { s, redis, database, log };
  const [pg] = await database.sql<{ version: string }[]>`SELECT version()`;
  const meta = {
    date: new Date().toISOString(),
    quick,
    label,
    node: process.versions.node,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    loadStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    redis: /redis_version:(\S+)/.exec(await redis.client.info('server'))?.[1] ?? '?',
    postgres: pg!.version.split(' ').slice(0, 2).join(' '),
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: git('status', '--porcelain').length > 0,
    settings: s,
  };

  const baselines = await runBaselines(ctx);

  const config = {
    databaseUrl: database.url,
    redisUrl: redis.url,
    prefix: `spoolbench-${randomBytes(3).toString('hex')}`,
    adminToken: `admin-${randomBytes(16).toString('hex')}`,
  };
  log('starting the Spool API (apps/api/src/main.ts)');
  const api = await startApi(config);
  cleanups.push(() => api.child.stop());
  const session: SpoolSession = { api, apiKey: await createTenant(api.url, config.adminToken), config };
  cleanups.push(async () => session.worker?.stop());
  const http = await runHttp(ctx, session);
  const drain = await runDrain(ctx, session);
  const spool = await runSpool(ctx, session);
  const sse = await runSse(ctx, session);
  await Promise.all([session.worker?.stop(), api.child.stop()]);
  await resetSpool(ctx, config.prefix);

  const cost = await runCost(ctx, { ...config, prefix: `${config.prefix}-cost` }, session.apiKey);
  const documents = await runDocuments(ctx);

  const results: RunResults = {
    meta: {
      ...meta,
      loadEnd: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
      seconds: (Date.now() - started) / 1000,
    },
    baselines,
    http,
    drain,
    spool,
    sse,
    cost,
    documents,
  };
  const rows = goals(results);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const base = `${meta.date.slice(0, 10)}${quick ? '-quick' : ''}${label ? `-${label}` : ''}`;
  const title = `Spool vs raw engines — ${meta.date.slice(0, 10)}${quick ? ' (quick)' : ''}${label ? ` — ${label}` : ''}`;
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify({ ...results, goals: rows }, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.svg`), svgChart(rows, title));
  writeFileSync(join(dir, `${base}.md`), markdown(results, rows, `${base}.svg`));
  if (!quick && !label) {
    writeFileSync(join(dir, 'latest.svg'), svgChart(rows, title));
    writeFileSync(join(dir, 'latest.md'), markdown(results, rows, 'latest.svg'));
  }
  log(`wrote bench/results/${base}.{json,md,svg}${!quick && !label ? ' and latest.{md,svg}' : ''}`);
  console.log(`\n${markdown(results, rows, `${base}.svg`).split('\n## Raw engines')[0]}`);
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
  log('done');
}
process.exit(process.exitCode ?? 0);
