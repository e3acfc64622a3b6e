/** `spool` (packages/cli/src/main.ts) as a user runs it: a real process against a running stack. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnChild } from './support/children.ts';
import { ROOT } from './support/env.ts';
import { client, type Stack, startStack } from './support/stack.ts';

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

describe('the spool CLI', () => {
  let stack: Stack;
  let apiKey: string;

  beforeAll(async () => {
    stack = await startStack();
    apiKey = (await stack.tenant('cli')).apiKey;
  });
  afterAll(async () => {
    await stack?.close();
    await stack?.database.drop();
  });

  const spool = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/cli/src/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', SPOOL_URL: stack.url, SPOOL_API_KEY: apiKey, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await child.exited;
    return { code, stdout, stderr };
  };

  it('submit --wait shows a progress bar while the job runs and prints the result', async () => {
    const run = await spool(['submit', 'debug-steps', '--input', '{"steps":4,"stepMs":150}', '--wait']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ steps: 4 });
    const id = /submitted (\S+)/.exec(run.stderr)?.[1];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // stderr is a pipe here, so the bar is logged a line per change instead of redrawn.
    const bars = run.stderr.split('\n').filter((l) => l.startsWith('['));
    expect(bars.length).toBeGreaterThanOrEqual(3);
    expect(bars.at(-1)).toMatch(/^\[#{30}\] 100%/);
    expect(bars.some((l) => / (25|50|75)%/.test(l))).toBe(true);
    expect(run.stderr).toContain('status: running (attempt 1)');
    expect((await client(stack.url, apiKey).get(id!)).body.status).toBe('completed');
  });

  it('a failed job exits 1 with its error; watch follows an existing job', async () => {
    const failed = await spool([
      'submit',
      'debug-steps',
      '--input',
      '{"steps":2,"stepMs":10,"failAt":2,"failTimes":99}',
      '--wait',
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/failed: \w+: /);
    expect(JSON.parse(failed.stdout).status).toBe('failed');

    const submitted = await client(stack.url, apiKey).submit({ type: 'debug-steps', input: { steps: 3, stepMs: 100 } });
    const watched = await spool(['watch', submitted.body.id]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(JSON.parse(watched.stdout)).toEqual({ steps: 3 });
  });

  it('bad input and bad usage exit 2 with a clear message, not a stack trace', async () => {
    const invalid = await spool(['submit', 'debug-steps', '--input', '{"steps":"many"}']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^error: validation_failed: input\.steps/m);
    const notJson = await spool(['submit', 'debug-steps', '--input', '{oops']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('--input is not JSON');
    const noKey = await spool(['get', 'job_x'], { SPOOL_API_KEY: '' });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('no API key');
    const badKey = await spool(['get', 'job_x'], { SPOOL_API_KEY: 'sk_wrong' });
    expect(badKey.stderr).toMatch(/^error: unauthorized: /m);
    // watch reads the stream's error body like any other call
    const watchBadKey = await spool(['watch', 'job_x'], { SPOOL_API_KEY: 'sk_wrong' });
    expect(watchBadKey.code).toBe(2);
    expect(watchBadKey.stderr).toMatch(/^error: unauthorized: /m);
    const watchMissing = await spool(['watch', '00000000-0000-4000-8000-000000000000']);
    expect(watchMissing.code).toBe(2);
    expect(watchMissing.stderr).toMatch(/^error: not_found: /m);
    const noFile = await spool(['submit', 'debug-steps', '--input', '@/nonexistent/input.json']);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('--input: cannot read /nonexistent/input.json (ENOENT)');
    for (const r of [invalid, notJson, noKey, badKey, watchBadKey, watchMissing, noFile])
      expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('watch follows a retried job past its earlier terminal event, to its new end', async () => {
    const api = client(stack.url, apiKey);
    const submitted = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 300 } });
    const id = submitted.body.id as string;
    await api.waitFor(id, ['running']);
    expect((await api.call('POST', `/v1/jobs/${id}/cancel`)).status).toBe(202);
    await api.waitFor(id, ['canceled']);
    expect((await api.call('POST', `/v1/jobs/${id}/retry`)).status).toBe(202);
    const watched = await spool(['watch', id]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stderr).toContain('canceled');
    expect(watched.stderr).toContain('status: running (attempt 2)');
    expect(JSON.parse(watched.stdout)).toEqual({ steps: 3 });
  });
});
