/**
 * Raw HTTP for contract tests: any body, any headers, and the assertions every error response
 * must meet (the JSON error shape, `x-request-id`, no stack trace).
 */
import { expect } from 'vitest';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body, or undefined when it is empty or not JSON. */
  body: any;
}

/** fetch that never throws on a status and reads the body as text (and JSON when it parses). */
export async function request(url: string, path: string, init: RequestInit = {}): Promise<RawResponse> {
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
export const jsonHeaders = (key: string) => ({ ...bearer(key), 'content-type': 'application/json' });

// A V8 stack frame ("    at fn (file.ts:1:2)"), a source location, or an error class dump.
const STACK_HINTS = [
  /\n\s*at\s+\S/,
  /\bat\s+\S+\s+\([^)]*:\d+:\d+\)/,
  /\.(?:ts|js|mjs|cjs):\d+:\d+/,
  /node_modules\//,
  /"stack"\s*:/,
];

export function expectNoStackTrace(text: string): void {
  for (const hint of STACK_HINTS) expect(text, `response body looks like a stack trace: ${text.slice(0, 300)}`).not.toMatch(hint);
}

/** Asserts `{"error":{"code","message",...}}` with this status (and code, when given). */
export function expectError(
  res: RawResponse,
  status: number,
  code?: string,
): { code: string; message: string; details?: unknown } {
  expect(res.status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  expectNoStackTrace(res.text);
  const error = res.body?.error;
  expect(error, `no error object in ${res.text.slice(0, 300)}`).toBeTypeOf('object');
  expect(error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(error.message).toBeTypeOf('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(Object.keys(res.body)).toEqual(['error']);
  // SPEC's shape: `details` always there, null when there are none.
  expect(Object.keys(error).sort()).toEqual(['code', 'details', 'message']);
  if (code !== undefined) expect(error.code).toBe(code);
  return error;
}

/** Issues an API key for a tenant through the admin API. */
export async function issueKey(url: string, adminToken: string, tenantId: string, scopes: string[]) {
  const res = await request(url, `/v1/admin/tenants/${tenantId}/api-keys`, {
    method: 'POST',
    headers: jsonHeaders(adminToken),
    body: JSON.stringify({ scopes }),
  });
  if (res.status !== 201) throw new Error(`issue key failed: ${res.status} ${res.text}`);
  return res.body as { id: string; tenantId: string; scopes: string[]; apiKey: string };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something truthy, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
