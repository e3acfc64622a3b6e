/** Free loopback ports and bounded waits, for tests that start their own servers. */
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until the server at `base` answers `GET /healthz` with 2xx. With `child`, a process
 * that exits first fails the wait at once; either way the error carries the process's output.
 */
export async function waitHealthy(
  base: string,
  timeoutMs: number,
  child?: { proc: { exitCode: number | null }; output(): string },
): Promise<void> {
  await waitUntil(
    `${base}/healthz to answer`,
    async () => {
      if (child && child.proc.exitCode !== null) throw new Error(`the process exited with ${child.proc.exitCode}`);
      return (await fetch(`${base}/healthz`).catch(() => undefined))?.ok ? true : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(child ? `${err.message}\n--- process output ---\n${child.output()}` : err.message);
  });
}
