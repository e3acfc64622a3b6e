/**
 * The operators' dashboard against a real stack: admin-only auth (401 + WWW-Authenticate
 * Basic, 403 for a tenant key, Basic or Bearer admin token), Bull Board's page and API list
 * every queue, and the job explorer lists a job across tenants and shows its steps. Also the
 * one-process mounting under /admin.
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '@spool/api';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';

describe('dashboard', () => {
  let stack: Stack;
  let server: ServerType;
  let url: string;
  let tenantKey: string;
  let jobId: string;
  const basic = (password: string, user = 'admin') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const get = (path: string, authorization?: string) =>
    fetch(`${url}${path}`, { headers: authorization ? { authorization } : {}, redirect: 'manual' });

  beforeAll(async () => {
    stack = await startStack();
    const t = await stack.tenant('dash-tenant');
    tenantKey = t.apiKey;
    const api = client(stack.url, t.apiKey);
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 5 } });
    expect(res.status).toBe(202);
    jobId = res.body.id;
    await api.waitFor(jobId);
    const app = createDashboard(dashboardDepsFromApi(stack.api, ''));
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (server) {
      (server as import('node:http').Server).closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
    await stack?.close();
  });

  it('answers 401 with WWW-Authenticate: Basic (never a redirect) without credentials, on every page and asset', async () => {
    for (const path of ['/', `/jobs/${jobId}`, '/queues', '/queues/api/queues', '/queues/static/css/main.css', '/nope']) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic /);
      expect(res.headers.get('location'), path).toBeNull();
    }
  });

  it('answers 401 to a wrong admin token, Basic or Bearer', async () => {
    expect((await get('/', basic('wrong-token'))).status).toBe(401);
    expect((await get('/', 'Bearer wrong-token')).status).toBe(401);
  });

  it('answers 403 to a tenant API key, as Bearer or Basic password', async () => {
    expect((await get('/', `Bearer ${tenantKey}`)).status).toBe(403);
    expect((await get('/queues/api/queues', basic(tenantKey))).status).toBe(403);
  });

  it('answers 200 to the admin token as the Basic password (any user) and as a Bearer token', async () => {
    expect((await get('/', basic(stack.adminToken))).status).toBe(200);
    expect((await get('/', basic(stack.adminToken, 'ops'))).status).toBe(200);
    expect((await get('/', `Bearer ${stack.adminToken}`)).status).toBe(200);
  });

  it('serves Bull Board at /queues and its API lists every job-type queue plus webhooks', async () => {
    const page = await get('/queues', `Bearer ${stack.adminToken}`);
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('<div id="root"');
    expect(body).toContain('<base href="/queues/"');

    const res = await get('/queues/api/queues', `Bearer ${stack.adminToken}`);
    expect(res.status).toBe(200);
    const data = (await res.json()) as { queues: { name: string }[] };
    const names = data.queues.map((q) => q.name).sort();
    const expected = [...stack.api.registry.list.map((d) => d.name), 'webhooks'].sort();
    expect(names).toEqual(expected);
    expect(names).toContain('debug-steps');
  });

  it('serves Bull Board static assets behind auth', async () => {
    const page = await (await get('/queues', `Bearer ${stack.adminToken}`)).text();
    // Relative to <base href="/queues/">.
    const assets = [...page.matchAll(/(?:src|href)="(static\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(1);
    for (const asset of assets) {
      const res = await get(`/queues/${asset}`, `Bearer ${stack.adminToken}`);
      expect(res.status, asset).toBe(200);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(100);
      expect((await get(`/queues/${asset}`)).status, asset).toBe(401);
    }
  });

  it('lists the submitted job in the explorer, filtered by status and type', async () => {
    const auth = `Bearer ${stack.adminToken}`;
    const all = await (await get('/', auth)).text();
    expect(all).toContain(`data-job-id="${jobId}"`);
    const completed = await (await get('/?status=completed&type=debug-steps', auth)).text();
    expect(completed).toContain(`data-job-id="${jobId}"`);
    const failed = await (await get('/?status=failed', auth)).text();
    expect(failed).not.toContain(`data-job-id="${jobId}"`);
    const otherType = await (await get('/?type=chat', auth)).text();
    expect(otherType).not.toContain(`data-job-id="${jobId}"`);
  });

  it("shows a job's page with its input, result and steps with runs", async () => {
    const res = await get(`/jobs/${jobId}`, basic(stack.adminToken));
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('id="status" class="status completed"');
    for (const step of ['step-1', 'step-2', 'step-3']) expect(page).toContain(`data-step="${step}"`);
    const steps = page.slice(page.indexOf('id="steps"'), page.indexOf('</table>', page.indexOf('id="steps"')));
    expect(steps.match(/<td>1<\/td>/g)?.length).toBeGreaterThanOrEqual(3);
    expect(page).toContain('id="input"');
    expect(page).toContain('&quot;steps&quot;: 3');
    expect(page).toContain('id="result"');
  });

  it("streams a running job's events to the admin over SSE (the job page's live area)", async () => {
    const api = client(stack.url, tenantKey);
    const res = await api.submit({ type: 'debug-steps', input: { steps: 3, stepMs: 150 } });
    const page = await (await get(`/jobs/${res.body.id}`, `Bearer ${stack.adminToken}`)).text();
    expect(page).toContain('id="progress"');
    expect((await get(`/jobs/${res.body.id}/events`)).status).toBe(401);
    const stream = await get(`/jobs/${res.body.id}/events?after=0`, `Bearer ${stack.adminToken}`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await stream.text(); // the stream ends after the terminal event
    const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(types[0]).toBe('status');
    expect(types).toContain('progress');
    expect(types.at(-1)).toBe('completed');
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
  });

  it('shows a failed job: listed under status=failed, its error on its page, and in Bull Board as failed', async () => {
    const api = client(stack.url, tenantKey);
    const res = await api.submit({ type: 'debug-steps', input: { steps: 2, failAt: 1, failTimes: 10 } });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('failed');
    const auth = `Bearer ${stack.adminToken}`;
    expect(await (await get('/?status=failed', auth)).text()).toContain(`data-job-id="${job.id}"`);
    const page = await (await get(`/jobs/${job.id}`, auth)).text();
    expect(page).toContain('id="status" class="status failed"');
    expect(page).toContain('id="error"');
    expect(page).not.toContain('id="result"');
    const board = await get('/queues/api/queues?activeQueue=debug-steps&status=failed', auth);
    expect(board.status).toBe(200);
    const data = (await board.json()) as { queues: { name: string; jobs: { id: string }[] }[] };
    const q = data.queues.find((x) => x.name === 'debug-steps');
    expect(q?.jobs.map((j) => j.id)).toContain(job.id);
  });

  it('answers 404 for an unknown job', async () => {
    const res = await get('/jobs/018f0000-0000-7000-8000-000000000000', `Bearer ${stack.adminToken}`);
    expect(res.status).toBe(404);
  });

  it('is mounted under /admin of the API as in the one-process mode', async () => {
    const app = createApp(stack.api);
    app.route('/admin', createDashboard(dashboardDepsFromApi(stack.api, '/admin')));
    const unauth = await app.request('/admin/');
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await app.request('/admin/queues/api/queues', { headers: { authorization: `Bearer ${tenantKey}` } })).status).toBe(
      403,
    );
    const auth = { headers: { authorization: basic(stack.adminToken) } };
    const list = await app.request('/admin', auth);
    expect(list.status).toBe(200);
    const listPage = await list.text();
    expect(listPage).toContain(`href="/admin/jobs/${jobId}"`);
    // Every explorer link stays under /admin and resolves (the API routes strictly: /admin, not /admin/).
    const links = [...listPage.matchAll(/(?:href|action)="(\/[^"]*)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
    expect(links.length).toBeGreaterThan(2);
    for (const link of links) {
      expect(link.startsWith('/admin'), link).toBe(true);
      expect((await app.request(link, auth)).status, link).toBe(200);
    }
    const board = await app.request('/admin/queues', auth);
    expect(board.status).toBe(200);
    expect(await board.text()).toContain('<base href="/admin/queues/"');
    const boardPage = await (await app.request('/admin/queues', auth)).text();
    const asset = /src="(static\/js\/[^"]+\.js)"/.exec(boardPage)?.[1];
    expect(asset).toBeTruthy();
    expect((await app.request(`/admin/queues/${asset}`, auth)).status).toBe(200);
    expect((await app.request('/admin/queues/api/queues', auth)).status).toBe(200);
    // The API itself is untouched.
    expect((await app.request('/v1/jobs', { headers: { authorization: `Bearer ${tenantKey}` } })).status).toBe(200);
  });
});
