/**
 * A/B of the submit path of two checkouts of Spool on one machine: an API process from each
 * tree, on one fresh database and the shared Redis (own queue prefixes, jobs delayed an hour so
 * nothing runs them), then interleaved autocannon rounds (A B B A …) against each; CPU per
 * submit from /proc. Run it on a quiet machine, and an A/A run (one tree twice) first: that
 * difference is the noise.
 *
 *   node bench/ab-submit.mjs /tmp/spool-old /tmp/spool-new [rounds=20]
 *
 * Each tree needs its `pnpm install`. Not part of `pnpm bench`: it answers "did this change
 * cost API CPU", which a full run, across machines and days, cannot.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const [dirA, dirB, roundsArg] = process.argv.slice(2);
if (!dirA || !dirB) throw new Error('usage: node bench/ab-submit.mjs <tree A> <tree B> [rounds]');
const rounds = Number(roundsArg ?? 20);
const autocannon = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/.bin/autocannon');
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
};

const db = `spool_ab_${Date.now()}`;
execFileSync('createdb', ['-h', '127.0.0.1', db]);
const DATABASE_URL = `postgres://127.0.0.1:5432/${db}`;
const adminToken = `ab-admin-${Date.now()}-token`;
execFileSync('pnpm', ['-s', 'db:migrate'], { cwd: dirB, env: { ...process.env, DATABASE_URL }, stdio: 'ignore' });

const sides = [
  { name: 'A', dir: dirA, port: 7811 },
  { name: 'B', dir: dirB, port: 7812 },
].map((side) => ({
  ...side,
  url: `http://127.0.0.1:${side.port}`,
  proc: spawn('node', ['--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: side.dir,
    env: {
      ...process.env,
      DATABASE_URL,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SPOOL_QUEUE_PREFIX: `ab-${side.name}-${Date.now()}`,
      SPOOL_ADMIN_TOKEN: adminToken,
      PORT: String(side.port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  }),
}));

try {
  for (const side of sides) {
    for (
      let i = 0;
      i < 100 &&
      !(await fetch(`${side.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    )
      await sleep(200);
  }
  const tenant = await fetch(`${sides[1].url}/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ab' }),
  }).then((r) => r.json());
  const body = JSON.stringify({ type: 'debug-steps', input: { steps: 1 }, delayMs: 3_600_000 });

  const round = (side, seconds) => {
    const before = cpuMs(side.proc.pid);
    const args = ['-j', '-c', '50', '-d', String(seconds), '-m', 'POST', '-b', body];
    args.push('-H', `authorization=Bearer ${tenant.apiKey}`, '-H', 'content-type=application/json', `${side.url}/v1/jobs`);
    const r = JSON.parse(execFileSync(autocannon, args, { encoding: 'utf8', maxBuffer: 1 << 26 }));
    return { rps: r.requests.average, cpuMs: (cpuMs(side.proc.pid) - before) / r['2xx'], non2xx: r.non2xx };
  };

  for (const side of sides) round(side, 3); // warm-up
  const results = { A: [], B: [] };
  for (let i = 0; i < rounds; i++) {
    const side = sides[[0, 1, 1, 0][i % 4]];
    const r = round(side, 6);
    results[side.name].push(r);
    console.log(`${side.name}  ${r.rps.toFixed(0)} req/s  ${r.cpuMs.toFixed(3)} ms CPU per submit  non-2xx ${r.non2xx}`);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const [name, rs] of Object.entries(results)) {
    console.log(
      `${name} mean: ${mean(rs.map((r) => r.rps)).toFixed(0)} req/s, ${mean(rs.map((r) => r.cpuMs)).toFixed(3)} ms CPU per submit`,
    );
  }
} finally {
  for (const side of sides) side.proc.kill('SIGTERM');
  await sleep(1_000);
  execFileSync('dropdb', ['-h', '127.0.0.1', '--force', db]);
}
