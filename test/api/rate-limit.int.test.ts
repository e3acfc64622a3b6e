import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('per-key rate limit (SPOOL_RATE_LIMIT_PER_MIN)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false, rateLimitPerMin: 5 });
  });
  afterAll(() => stack?.close());

  it('answers 429 with Retry-After past the limit, per key', async () => {
    const a = client(stack.url, (await stack.tenant('a')).apiKey);
    const b = client(stack.url, (await stack.tenant('b')).apiKey);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await a.call('GET', '/v1/jobs')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const limited = await a.call('GET', '/v1/jobs');
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another key has its own budget; health checks need none.
    expect((await b.call('GET', '/v1/jobs')).status).toBe(200);
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });
});
