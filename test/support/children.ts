/**
 * Child processes a test starts: output kept for failure messages, and killed when the test
 * process exits even if a test forgot to (or crashed before its afterAll ran).
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The last few KB of stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Sends `signal` and waits (bounded) for the exit; escalates to SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function spawnChild(command: string, args: string[], opts: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (proc.pid === undefined) throw new Error(`could not start ${command}`);
  live.add(proc);
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-16_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const hasExited = () => proc.exitCode !== null || proc.signalCode !== null;
  return {
    proc,
    pid: proc.pid,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (hasExited()) return;
      proc.kill(signal);
      const timer = new Promise((r) => setTimeout(r, graceMs).unref());
      await Promise.race([exited, timer]);
      if (!hasExited()) {
        proc.kill('SIGKILL');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
    },
  };
}
