/**
 * Graceful shutdown on SIGTERM and SIGINT: runs the process's close steps once, in order, then
 * exits. A second signal while closing does not start them again.
 */
import type { Logger } from './logger.ts';

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
