/**
 * One HTTP POST of a webhook to a checked address: no redirects followed, a hard timeout, and a
 * lookup pinned to the addresses the SSRF guard approved.
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

/** What is read of an answer's body before the socket is let go: nothing in it is used. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * Settles once, within `timeoutMs`, whatever the receiver does: the answer counts when its
 * status line and headers arrive (a 200 whose body keeps coming is a 200); a `101 Switching
 * Protocols` or a connection closed without an answer is a failed attempt. Before, a 101 left
 * the promise unsettled for ever, holding a delivery slot (outside audit).
 */
export function postWebhook(
  target: CheckedTarget,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<PostResult> {
  const started = performance.now();
  // Every address the guard approved, in its order: with `all` (Node's happy eyeballs) the
  // connection falls back to the next one when the first is unreachable.
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as any)(null, target.addresses);
    else callback(null, target.addresses[0]!.address, target.addresses[0]!.family);
  };
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<PostResult, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...r, latencyMs: Math.round(performance.now() - started) });
    };
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
      },
      (res) => {
        done({ statusCode: res.statusCode, retryAfter: res.headers['retry-after'] ?? null });
        // Drain a little so the socket can be reused; past that, or at the deadline, drop it.
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_BODY_BYTES) res.destroy();
        });
        res.on('error', () => {});
      },
    );
    // The one bound on the whole attempt (a socket idle timeout of the same length could never fire first).
    const deadline = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      done({ statusCode: res.statusCode, error: `the receiver switched protocols (${res.statusCode})` });
    });
    req.on('error', (err) => done({ error: err.message }));
    req.on('close', () => {
      clearTimeout(deadline);
      done({ error: 'the connection closed without an answer' });
    });
    req.end(body);
  });
}
