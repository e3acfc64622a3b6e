/**
 * One HTTP POST of a webhook to a checked address: no redirects followed, a hard timeout, and a
 * lookup pinned to the address the SSRF guard approved.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedTarget } from './ssrf.ts';

export interface PostResult {
  statusCode?: number;
  retryAfter?: string | null;
  latencyMs: number;
  error?: string;
}

export function postWebhook(
  target: CheckedTarget,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<PostResult> {
  const started = performance.now();
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as any)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const done = (r: Omit<PostResult, 'latencyMs'>) => resolve({ ...r, latencyMs: Math.round(performance.now() - started) });
    const req = client.request(
      target.url,
      {
        method: 'POST',
        lookup: pinned,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Spool-Webhooks/1',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        // Read (and discard) at most a little of the answer, then let the socket go.
        res.resume();
        res.on('end', () => done({ statusCode: res.statusCode, retryAfter: res.headers['retry-after'] ?? null }));
        res.on('error', (err) => done({ statusCode: res.statusCode, error: err.message }));
      },
    );
    const deadline = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => done({ error: err.message }));
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}
