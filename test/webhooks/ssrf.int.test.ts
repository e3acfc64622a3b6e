/**
 * The SSRF guard on, end to end: names resolving to private addresses are refused at submit
 * (422) and again at connect time. There is no DNS server the test controls and /etc/hosts is
 * not ours to edit, so the guard's resolver is injected (see ssrf.ts); it answers per name,
 * and the same resolver serves the API and the worker, as one DNS would.
 */

import type { WebhookLookup } from '@spool/core/webhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';

/** Answers per name: a list, or a function of how many times that name was asked (rebinding). */
type Answers = Record<string, string[] | ((asked: number) => string[] | Promise<string[]>)>;

function fakeDns(answers: Answers) {
  const asked = new Map<string, number>();
  const lookup: WebhookLookup = async (hostname, options) => {
    // The guard must ask for every address, as the connection would; a single answer could hide one.
    if (options.all !== true) throw new Error('the guard must resolve with all: true');
    const n = (asked.get(hostname) ?? 0) + 1;
    asked.set(hostname, n);
    const a = answers[hostname];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const list = typeof a === 'function' ? await a(n) : a;
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, asked };
}

describe('SSRF guard with a resolver answering private addresses', () => {
  const dns = fakeDns({
    'internal.example.test': ['10.0.0.1'],
    'mixed.example.test': ['93.184.216.34', '10.0.0.1'],
    'mapped.example.test': ['::ffff:10.0.0.1'],
    // Public when the API checks it, 10.0.0.1 when the worker is about to connect.
    'rebind.example.test': (n) => (n === 1 ? ['93.184.216.34'] : ['10.0.0.1']),
    // Public at submit; at connect time the resolver never answers (a dead authoritative server).
    'stalls.example.test': (n) => (n === 1 ? ['93.184.216.34'] : new Promise<string[]>(() => {})),
  });
  let stack: Stack;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    stack = await startStack({
      webhooks: { allowPrivate: false, lookup: dns.lookup, retryDelaysMs: [0, 100, 200], timeoutMs: 1_000 },
    });
    api = client(stack.url, (await stack.tenant()).apiKey);
  });
  afterAll(() => stack?.close());

  it.each([
    ['a hostname resolving to 10.0.0.1', 'http://internal.example.test/hook'],
    ['a hostname resolving to a public and a private address', 'https://mixed.example.test/hook'],
    ["a hostname resolving to '::ffff:10.0.0.1'", 'http://mapped.example.test:8080/hook'],
  ])('refuses %s at submit with 422 webhook_url_forbidden, without naming the address', async (_what, url) => {
    const res = await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('webhook_url_forbidden');
    // Which address would map the internal DNS for a tenant who probes names.
    expect(res.body.error.message).toBe(`${new URL(url).hostname} resolves to a private, loopback or reserved address`);
    expect(dns.asked.get(new URL(url).hostname)).toBeGreaterThanOrEqual(1);
  });

  it('accepts at submit a name that does not resolve now; each delivery attempt resolves it again, and fails', async () => {
    // Refused (422 webhook_url_unresolvable), a submit failed on a resolver's hiccup, and every
    // webhook failed where there is no DNS, against SPEC's 202.
    const res = await api.submit({ type: 'debug-steps', input: { steps: 0 }, webhook: { url: 'http://gone.example.test/hook' } });
    expect(res.status).toBe(202);
    expect(dns.asked.get('gone.example.test')).toBe(1);
    let delivery: any;
    for (let i = 0; i < 300 && delivery?.attempts?.length !== 3; i++) {
      [delivery] = (await api.call('GET', `/v1/jobs/${res.body.id}/webhooks`)).body.data;
      if (delivery?.attempts?.length !== 3) await new Promise((r) => setTimeout(r, 50));
    }
    expect(delivery?.attempts.map((a: { error: string }) => a.error)).toEqual(Array(3).fill('cannot resolve gone.example.test'));
  });

  it('refuses at connect time a name that resolved to a public address at submit and to 10.0.0.1 now', async () => {
    const res = await api.submit({
      type: 'debug-steps',
      input: { steps: 0 },
      webhook: { url: 'http://rebind.example.test/hook' },
    });
    expect(res.status).toBeLessThan(300);
    const jobId = res.body.id as string;

    let delivery: any;
    for (let i = 0; i < 300 && delivery?.status !== 'failed'; i++) {
      [delivery] = (await api.call('GET', `/v1/jobs/${jobId}/webhooks`)).body.data;
      if (delivery?.status !== 'failed') await new Promise((r) => setTimeout(r, 50));
    }
    // One attempt, refused by the guard and never retried: a retry would not change the answer.
    expect(delivery, JSON.stringify(delivery)).toMatchObject({ status: 'failed' });
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0].statusCode).toBeNull();
    expect(delivery.attempts[0].error).toMatch(/rebind\.example\.test resolves to a private/);
    // Asked at submit and again before connecting.
    expect(dns.asked.get('rebind.example.test')).toBe(2);
  });

  it('bounds the connect-time lookup by the attempt timeout: a resolver that never answers is a failed attempt', async () => {
    const res = await api.submit({
      type: 'debug-steps',
      input: { steps: 0 },
      webhook: { url: 'http://stalls.example.test/hook' },
    });
    expect(res.status).toBeLessThan(300);
    let delivery: any;
    for (let i = 0; i < 200 && delivery?.status !== 'failed'; i++) {
      [delivery] = (await api.call('GET', `/v1/jobs/${res.body.id}/webhooks`)).body.data;
      if (delivery?.status !== 'failed') await new Promise((r) => setTimeout(r, 50));
    }
    // Every attempt of the schedule ended at its timeout; before, the first never ended.
    expect(delivery, JSON.stringify(delivery)).toMatchObject({ status: 'failed' });
    expect(delivery.attempts).toHaveLength(3);
    for (const a of delivery.attempts) expect(a.error).toBe('stalls.example.test did not resolve within 1000 ms');
  });
});
