/**
 * Child processes of the benchmark. Every server under test and every load generator runs in
 * its own process, so no two of them share an event loop. Node children speak over IPC:
 * they `process.send({type, ...})` and the parent awaits a message of a given type.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { type Child, spawnChild } from '../../test/support/children.ts';
import { ROOT } from './env.ts';

export type { Child };

export interface NodeChild extends Child {
  send(message: unknown): void;
  /** The next message of this type (bounded); rejects if the child exits first. */
  next<T = any>(type: string, timeoutMs?: number): Promise<T>;
}

/** The environment a child gets: PATH and HOME, then only what is named. */
export const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });

/** `pnpm bench --profile <dir>`: Spool's processes write V8 CPU profiles there on exit. */
let profileDir: string | undefined;
export function profileInto(dir: string): void {
  profileDir = dir;
}

/**
 * Runs a TypeScript file under tsx with an IPC channel. `ulimit -n` is raised to the hard
 * limit first (through sh), for children that hold thousands of sockets.
 */
export function startNode(
  file: string,
  env: Record<string, string> = {},
  opts: { raiseFdLimit?: boolean; preload?: string[]; cwd?: string; profile?: boolean } = {},
): NodeChild {
  const profile = opts.profile && profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const args = [
    ...profile,
    '--import',
    'tsx',
    ...(opts.preload ?? []).flatMap((m) => ['--import', m]),
    file.startsWith('/') ? file : join(ROOT, file),
  ];
  const cwd = opts.cwd ? join(ROOT, opts.cwd) : ROOT;
  const child = opts.raiseFdLimit
    ? spawnChild('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', process.execPath, ...args], {
        cwd,
        env: { ...baseEnv(), ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      })
    : spawnChild(process.execPath, args, { cwd, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  return withIpc(child);
}

function withIpc(child: Child): NodeChild {
  const proc: ChildProcess = child.proc;
  const inbox: any[] = [];
  const waiters: { type: string; resolve: (m: any) => void }[] = [];
  proc.on('message', (m: any) => {
    const i = waiters.findIndex((w) => w.type === m?.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return {
    ...child,
    send: (message) => proc.send?.(message as never),
    next(type, timeoutMs = 120_000) {
      const i = inbox.findIndex((m) => m?.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no "${type}" message from ${child.pid} within ${timeoutMs} ms\n${child.output()}`));
        }, timeoutMs);
        const waiter = {
          type,
          resolve: (m: any) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(waiter);
        void child.exited.then((code) => {
          const j = waiters.indexOf(waiter);
          if (j < 0) return;
          waiters.splice(j, 1);
          clearTimeout(timer);
          reject(new Error(`child ${child.pid} exited (${code}) before sending "${type}"\n${child.output()}`));
        });
      });
    },
  };
}

/** Resident memory of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb * 1024;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux). */
export async function cpuMs(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Whole-machine CPU counters (ticks) from the first line of /proc/stat (Linux). */
export interface MachineCpu {
  busy: number;
  /** Time the hypervisor gave this VM's cores to someone else. */
  steal: number;
  total: number;
}

export async function machineCpu(): Promise<MachineCpu> {
  const { readFile } = await import('node:fs/promises');
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  // cpu  user nice system idle iowait irq softirq steal …
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [idle, iowait, steal] = [ticks[3]!, ticks[4]!, ticks[7]!];
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - idle - iowait, steal, total };
}

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const CLOCK_TICKS = 100;
