/**
 * How an entry point ends: graceful shutdown on SIGTERM and SIGINT, and a one-line message when
 * it cannot start.
 */
import { ConfigError } from './env.ts';
import type { Logger } from './logger.ts';

/**
 * The handler of a start-up failure (a bad setting, a port in use, a database that does not
 * answer): one line naming the problem, exit code 1, no stack trace. Also for a server's
 * `error` event, so a port in use stops the process the same way.
 */
export function startFailed(what: string): (err: unknown) => never {
  return (err) => {
    const message = err instanceof Error ? err.message : String(err);
    console.error(err instanceof ConfigError ? message : `${what} could not start: ${message}`);
    process.exit(1);
  };
}

/** Runs the process's close steps once, in order, then exits; a second signal does not restart them. */
export function onShutdown(log: Logger, message: string, steps: (() => unknown)[]): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        log.warn({ err }, 'shutdown step failed');
      }
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
