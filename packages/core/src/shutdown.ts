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

/**
 * Past the grace period (SPOOL_SHUTDOWN_GRACE_MS), how long interrupted jobs have to write
 * their state and the process to close its connections before it exits anyway.
 */
export const SHUTDOWN_SLACK_MS = 15_000;

/**
 * Runs the process's close steps once, in order, then exits; a second signal does not restart
 * them. Steps that have not ended by `deadlineMs` (a database that stopped answering, say) are
 * left behind: the process exits with code 1, and what it held lapses as when it is killed.
 */
export function onShutdown(log: Logger, message: string, steps: (() => unknown)[], deadlineMs?: number): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    if (deadlineMs !== undefined) {
      setTimeout(() => {
        log.error({ deadlineMs }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, deadlineMs).unref();
    }
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
