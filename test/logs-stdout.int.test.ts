/**
 * The root logger writes stdout asynchronously (packages/core/src/logger.ts). Checked on real
 * processes: what is logged right before `process.exit` is all written, and a stdout that
 * nobody reads does not stall the process (a synchronous write would block it for good).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const LOGGER = join(import.meta.dirname, '../packages/core/src/logger.ts');

/** Runs `body` as an ES module with `log` (the root logger at info) in scope. */
function runLogging(body: string) {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)};\nconst log = createLogger('info');\n${body}`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
}

describe('log output', () => {
  it('writes every line logged right before process.exit', async () => {
    const child = runLogging(`for (let i = 0; i < 20000; i++) log.info({ i }, 'line');\nprocess.exit(0);`);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const lines = out.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(20000);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ i: 19999, msg: 'line' });
  });

  it('keeps the process running while nobody reads its stdout', async () => {
    // 30 MB of lines into a pipe that holds 64 KiB: a blocking write would never return.
    const child = runLogging(
      `const big = 'x'.repeat(10_000);\nfor (let i = 0; i < 3000; i++) log.info({ big }, 'line');\nprocess.send({ type: 'alive' });\nsetInterval(() => {}, 1000);`,
    );
    child.stdout!.pause();
    try {
      const message = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the process stalled on its unread stdout')), 15_000);
        child.on('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
      expect(message).toEqual({ type: 'alive' });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
