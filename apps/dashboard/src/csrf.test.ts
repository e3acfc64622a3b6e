import { toSpoolError } from '@spool/core/errors';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { sameOriginWrites } from './csrf.ts';

const app = new Hono();
app.use('*', sameOriginWrites());
app.onError((err, c) => {
  const e = toSpoolError(err);
  return c.json({ code: e.code, message: e.message }, e.status as 403);
});
app.all('/act', (c) => c.text('done'));

const post = (headers: Record<string, string>) =>
  app.request('http://dash.example/act', { method: 'POST', headers: { host: 'dash.example', ...headers } });
const basic = { authorization: `Basic ${Buffer.from('admin:token').toString('base64')}` };

describe('same-origin writes (CSRF under Basic auth)', () => {
  it('lets reads through without any header', async () => {
    expect((await app.request('http://dash.example/act', { headers: basic })).status).toBe(200);
  });

  it('accepts a Basic POST from the same origin (Fetch Metadata or Origin)', async () => {
    expect((await post({ ...basic, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await post({ ...basic, origin: 'http://dash.example' })).status).toBe(200);
    // Behind a proxy the public host arrives as X-Forwarded-Host.
    expect((await post({ ...basic, origin: 'https://ops.example.com', 'x-forwarded-host': 'ops.example.com' })).status).toBe(200);
  });

  it('refuses a Basic POST from another site, an opaque origin, or with no proof at all', async () => {
    const cases: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site', origin: 'http://dash.example' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.example' },
      { origin: 'null' },
      {},
    ];
    for (const headers of cases) {
      const res = await post({ ...basic, ...headers });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(await res.json()).toMatchObject({
        code: 'csrf_rejected',
        message: expect.stringContaining('cross-site request refused'),
      });
    }
  });

  it('exempts a Bearer request: a browser never attaches one by itself', async () => {
    expect((await post({ authorization: 'Bearer token' })).status).toBe(200);
  });
});
