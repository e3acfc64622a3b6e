/** `spool` (packages/cli/src/main.ts) as a user runs it: a real process against a running stack. */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnChild } from './support/children.ts';
import { ROOT } from './support/env.ts';
import { freePort } from './support/ports.ts';
import { client, type Stack, startStack } from './support/stack.ts';

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * An HTTP proxy to `target` that serves it under `prefix`, and cuts the first `drops` event
 * streams after their first chunk, as a network drop mid-job would. `lastEventIds` records the
 * Last-Event-ID of each events request.
 */
async function startProxy(target: string, prefix = '', drops = 0) {
  const lastEventIds: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    if (!req.url?.startsWith(`${prefix}/`)) return void res.writeHead(404).end();
    const path = req.url.slice(prefix.length);
    if (path.endsWith('/events')) lastEventIds.push(req.headers['last-event-id'] as string | undefined);
    const headers = { ...req.headers, host: new URL(target).host };
    const upstream = httpRequest(`${target}${path}`, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (drops > 0 && String(up.headers['content-type']).startsWith('text/event-stream')) {
        drops--;
        up.once('data', (chunk) =>
          res.write(chunk, () => {
            res.destroy();
            up.destroy();
          }),
        );
      } else up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`,
    lastEventIds,
    close: () => new Promise((r) => server.close(r)),
  };
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

  /** Runs the CLI; `close` shuts our end of its stdout or stderr at once, as `spool … | true` does. */
  const spool = async (args: string[], env: Record<string, string> = {}, close: ('stdout' | 'stderr')[] = []): Promise<Run> => {
    const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/cli/src/main.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', SPOOL_URL: stack.url, SPOOL_API_KEY: apiKey, ...env },
    });
    for (const stream of close) child.proc[stream]?.destroy();
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

  it('a reader that closes early does not turn a completed job into a failure or a stack trace', async () => {
    const input = '{"steps":1,"stepMs":10}';
    const noStdout = await spool(['submit', 'debug-steps', '--input', input, '--wait'], {}, ['stdout']);
    expect(noStdout.code, noStdout.stderr).toBe(0);
    expect(noStdout.stderr).not.toMatch(/EPIPE|\n\s+at /);
    const noStderr = await spool(['submit', 'debug-steps', '--input', input, '--wait'], {}, ['stderr']);
    expect(noStderr.code).toBe(0);
    expect(JSON.parse(noStderr.stdout)).toEqual({ steps: 1 });
    const failed = await spool(['submit', 'debug-steps', '--input', '{"steps":1,"failAt":1,"failTimes":99}', '--wait'], {}, [
      'stdout',
      'stderr',
    ]);
    expect(failed.code).toBe(1); // the job's outcome still decides
  });

  it('watch fails at once, as the other commands do, when the API cannot be reached', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const watched = await spool(['watch', '00000000-0000-4000-8000-000000000000', '--url', closed]);
    expect(Date.now() - started).toBeLessThan(10_000); // not ten reconnects (~40 s)
    expect(watched.code).toBe(2);
    const unreachable = new RegExp(`^error: unreachable: cannot reach the Spool API at ${closed}: .*ECONNREFUSED`, 'm');
    expect(watched.stderr).toMatch(unreachable);
    expect((await spool(['get', 'job_x', '--url', closed])).stderr).toMatch(unreachable);
    // An empty SPOOL_URL is unset: the default, not a usage error.
    const unset = await spool(['get', 'job_x'], { SPOOL_URL: '' });
    expect(unset.stderr).not.toMatch(/not a valid http/);
    expect(unset.stderr).toContain('http://localhost:3000');
  });

  it('watch reconnects with Last-Event-ID when an open stream drops mid-job', async () => {
    const proxy = await startProxy(stack.url, '', 1);
    try {
      const id = (await client(stack.url, apiKey).submit({ type: 'debug-steps', input: { steps: 3, stepMs: 200 } })).body
        .id as string;
      const watched = await spool(['watch', id, '--url', proxy.url]);
      expect(watched.code, watched.stderr).toBe(0);
      expect(JSON.parse(watched.stdout)).toEqual({ steps: 3 });
      expect(proxy.lastEventIds.length).toBeGreaterThanOrEqual(2);
      expect(proxy.lastEventIds[0]).toBeUndefined();
      expect(proxy.lastEventIds[1]).toMatch(/^\d+$/);
    } finally {
      await proxy.close();
    }
  });

  it('no command is a usage error on stderr (exit 2); --help prints the usage on stdout (exit 0)', async () => {
    const none = await spool([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('usage: spool <command>');
    const help = await spool(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: spool <command>');
    expect(help.stderr).toBe('');
  });

  it('--url keeps a base path (an API behind a path-prefix proxy); a URL that is not one is a usage error', async () => {
    const proxy = await startProxy(stack.url, '/some/prefix');
    try {
      const input = '{"steps":2,"stepMs":50}';
      const waited = await spool(['submit', 'debug-steps', '--input', input, '--wait', '--url', `${proxy.url}/`]);
      expect(waited.code, waited.stderr).toBe(0);
      expect(JSON.parse(waited.stdout)).toEqual({ steps: 2 });
      const id = /submitted (\S+)/.exec(waited.stderr)?.[1] as string;
      const got = await spool(['get', id], { SPOOL_URL: proxy.url }); // no trailing slash
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout).status).toBe('completed');
    } finally {
      await proxy.close();
    }
    for (const url of ['not a url', 'localhost:3000']) {
      const bad = await spool(['get', 'job_x', '--url', url]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^error: the API URL ".+" is not a valid http\(s\) URL/m);
      expect(bad.stderr).not.toContain('unreachable');
    }
  });

  it('an error message from the server reaches the terminal without control characters', async () => {
    const run = await spool(['submit', 'x\x1b]0;owned\x07\x1b[2Jy']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: unknown_job_type: .*xy/m);
    expect(run.stderr).not.toMatch(/(?![\n\t])\p{Cc}/u);
  });

  describe('following through a bad network', () => {
    /** A proxy to the stack; `handle` answers a request itself or calls `forward()`. */
    const proxyWith = async (
      handle: (req: IncomingMessage, res: ServerResponse, forward: (cut?: 'drop' | 'stall') => void) => void,
    ) => {
      const server = createServer((req, res) => {
        const forward = (cut?: 'drop' | 'stall') => {
          const upstream = httpRequest(`${stack.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            if (!cut) return void up.pipe(res);
            // After the first chunk: the connection drops, or stays open and says nothing more.
            up.once('data', (chunk) => res.write(chunk, () => (cut === 'drop' ? res.destroy() : up.pause())));
          });
          upstream.on('error', () => res.destroy());
          req.pipe(upstream);
        };
        handle(req, res, forward);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      };
    };

    /** `spool watch` of a 3-step job through `proxy`: exits 0 with the job's result; the proxy is closed after. */
    const watchesThrough = async (
      id: string,
      proxy: { url: string; close: () => Promise<unknown> },
      env?: Record<string, string>,
    ) => {
      try {
        const run = await spool(['watch', id, '--url', proxy.url], env);
        expect(run.code, run.stderr).toBe(0);
        expect(JSON.parse(run.stdout)).toEqual({ steps: 3 });
      } finally {
        await proxy.close();
      }
    };
    const submit = async (stepMs: number) =>
      (await client(stack.url, apiKey).submit({ type: 'debug-steps', input: { steps: 3, stepMs } })).body.id as string;

    it('a 429 on a reconnect is waited out (Retry-After), not the end of the watch', async () => {
      const id = await submit(300);
      let streams = 0;
      const proxy = await proxyWith((req, res, forward) => {
        if (!req.url?.endsWith('/events')) return forward();
        streams++;
        if (streams === 1) return forward('drop');
        if (streams === 2) {
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
          return void res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }));
        }
        forward();
      });
      await watchesThrough(id, proxy);
      expect(streams).toBe(3);
    });

    it('a stream gone silent (no heartbeat, no close) is given up after SPOOL_WATCH_IDLE_MS and resumed', async () => {
      const id = await submit(300);
      let streams = 0;
      const proxy = await proxyWith((req, _res, forward) => {
        if (req.url?.endsWith('/events') && ++streams === 1) return forward('stall');
        forward();
      });
      await watchesThrough(id, proxy, { SPOOL_WATCH_IDLE_MS: '1000' });
      expect(streams).toBeGreaterThanOrEqual(2);
    });

    it('a completed job exits 0 with its result, from its event, even when the API is gone by then', async () => {
      const id = await submit(50);
      const proxy = await proxyWith((req, res, forward) => {
        if (req.url?.endsWith('/events')) return forward();
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'unavailable', message: 'restarting' } }));
      });
      await watchesThrough(id, proxy);
    });

    it('a server that ends every stream at once is asked again with backoff; one that answers HTML is bad_response', async () => {
      let streams = 0;
      const server = createServer((req, res) => {
        if (req.url?.endsWith('/events')) {
          streams++;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          return void res.end();
        }
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Welcome to nginx!</body></html>');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const child = spawnChild(process.execPath, ['--import', 'tsx', join(ROOT, 'packages/cli/src/main.ts'), 'watch', 'x'], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '', SPOOL_URL: url, SPOOL_API_KEY: apiKey },
        });
        await new Promise((r) => setTimeout(r, 3_000));
        child.proc.kill('SIGKILL');
        await child.exited;
        // Backoff from 400 ms: a handful in 3 s (it was thousands).
        expect(streams).toBeGreaterThan(0);
        expect(streams).toBeLessThan(10);

        const got = await spool(['get', 'x', '--url', url]);
        expect(got.code).toBe(2);
        expect(got.stdout).toBe('');
        expect(got.stderr).toMatch(/^error: bad_response: .* answered GET \/v1\/jobs\/x with something other than JSON/m);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  });
});
