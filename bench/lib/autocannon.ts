/**
 * HTTP load from autocannon in its own process: the same generator at the same concurrency
 * for Spool and for its baseline. An in-process client would share a core with the server
 * and saturate long before it does.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnChild } from '../../test/support/children.ts';
import { baseEnv, cpuMs } from './proc.ts';

const require = createRequire(import.meta.url);
const BIN = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: unknown;
  connections: number;
  seconds: number;
  /** Requests per second across all connections (open loop); unset: as fast as answered. */
  overallRate?: number;
  /** An unrecorded run first, so the server's JIT and pools are warm. */
  warmupSeconds?: number;
  /** The server's process: its CPU time per 2xx response is reported (robust to a busy machine). */
  serverPid?: number;
}

export interface LoadResult {
  /** 2xx responses per second over the measured run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p99: number; avg: number };
  seconds: number;
  /** Server CPU (user + system) per 2xx response, when `serverPid` was given. */
  serverCpuMsPerRequest?: number;
}

async function once(o: LoadOptions, seconds: number): Promise<LoadResult> {
  const args = [BIN, '--json', '-c', String(o.connections), '-d', String(seconds), '-m', o.method ?? 'GET'];
  if (o.overallRate) args.push('-R', String(o.overallRate));
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (o.body !== undefined) args.push('-H', 'content-type=application/json', '-b', JSON.stringify(o.body));
  args.push(o.url);
  const child = spawnChild(process.execPath, args, { env: baseEnv() });
  let stdout = '';
  child.proc.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${child.output()}`);
  const r = JSON.parse(stdout.slice(stdout.indexOf('{'))) as any;
  return {
    rps: r['2xx'] / r.duration,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, avg: r.latency.average },
    seconds: r.duration,
  };
}

export async function load(o: LoadOptions): Promise<LoadResult> {
  if (o.warmupSeconds) await once(o, o.warmupSeconds);
  const cpuBefore = o.serverPid ? await cpuMs(o.serverPid) : 0;
  const result = await once(o, o.seconds);
  if (o.serverPid) result.serverCpuMsPerRequest = ((await cpuMs(o.serverPid)) - cpuBefore) / Math.max(1, result.ok);
  if (result.ok === 0)
    throw new Error(`no 2xx answer from ${o.method ?? 'GET'} ${o.url} (non2xx ${result.non2xx}, errors ${result.errors})`);
  return result;
}
