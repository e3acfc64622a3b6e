/**
 * The operators' dashboard against a real stack: admin-only auth (401 + WWW-Authenticate
 * Basic, 403 for a tenant key, Basic or Bearer admin token), Bull Board's page and API list
 * every queue, and the job explorer lists a job across tenants and shows its steps. Also the
 * one-process mounting under /admin, and the explorer's filters (tenant, time, paging), model
 * calls, webhook attempts, overview (queue depth, throughput, usage chart) and its actions
 * (cancel, retry, redeliver) with their same-origin (CSRF) check.
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '@spool/api';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { eventually } from '../support/http.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startReceiver } from '../support/webhook-receiver.ts';

describe('dashboard', () => {
  let stack: Stack;
  let fake: FakeOpenAI;
  let server: ServerType;
  let url: string;
  let tenantKey: string;
  let tenantId: string;
  let webhookSecret: string;
  let jobId: string;
  const basic = (password: string, user = 'admin') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const get = (path: string, authorization?: string) =>
    fetch(`${url}${path}`, { headers: authorization ? { authorization } : {}, redirect: 'manual' });

  beforeAll(async () => {
    // Chat jobs go to a fake OpenAI server through the real SDK, priced, so they leave model
    // calls with a cost to trace and chart (the local provider is always free).
    fake = await startFakeOpenAI();
    stack = await startStack({
      env: {
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        SPOOL_CHAT_MODELS: 'openai:gpt-4o-mini',
        SPOOL_MODEL_PRICES: 'gpt-4o-mini=1000/2000',
      },
    });
    const t = await stack.tenant('dash-tenant');
    tenantKey = t.apiKey;
    tenantId = t.id;
    webhookSecret = t.webhookSecret;
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
    await fake?.close();
  });

  it('answers 401 with WWW-Authenticate: Basic (never a redirect) without credentials, on every page and asset', async () => {
    for (const path of ['/', `/jobs/${jobId}`, '/queues', '/queues/api/queues', '/queues/static/css/main.css', '/nope']) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic /);
      expect(res.headers.get('location'), path).toBeNull();
      // Every response names a request id, as the API's do.
      expect(res.headers.get('x-request-id'), path).toBeTruthy();
    }
    const page = await get('/', basic(stack.adminToken));
    expect(page.status).toBe(200);
    expect(page.headers.get('x-request-id')).toBeTruthy();
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

  it('serves Bull Board at /queues and its API lists every job-type queue plus webhooks and schedules', async () => {
    const page = await get('/queues', `Bearer ${stack.adminToken}`);
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('<div id="root"');
    expect(body).toContain('<base href="/queues/"');

    const res = await get('/queues/api/queues', `Bearer ${stack.adminToken}`);
    expect(res.status).toBe(200);
    const data = (await res.json()) as { queues: { name: string }[] };
    const names = data.queues.map((q) => q.name).sort();
    const expected = [...stack.api.registry.list.map((d) => d.name), 'webhooks', 'schedules'].sort();
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

  it('keeps the trailing-slash redirect on this origin: //host/ is a path here, never another site', async () => {
    const auth = `Bearer ${stack.adminToken}`;
    for (const [from, to] of [
      ['//evil.example/', '/evil.example'],
      ['///evil.example/?status=failed', '/evil.example?status=failed'],
      ['/%5Cevil.example/', '/%5Cevil.example'],
      ['//', '/'],
      ['/queues/', '/queues'],
    ]) {
      const res = await get(from!, auth);
      expect(res.status, from).toBe(308);
      expect(res.headers.get('location'), from).toBe(to);
      expect(new URL(res.headers.get('location')!, url).origin, from).toBe(url);
    }
  });

  it('answers an unknown job and a bad event seq with the coded error page, as the other errors', async () => {
    const auth = `Bearer ${stack.adminToken}`;
    for (const [path, status, code] of [
      ['/jobs/018f0000-0000-7000-8000-000000000000', 404, 'not_found'],
      ['/jobs/xyz', 404, 'not_found'],
      ['/jobs/018f0000-0000-7000-8000-000000000000/events', 404, 'not_found'],
      [`/jobs/${jobId}/events?after=abc`, 400, 'invalid_event_id'],
    ] as const) {
      const res = await get(path, auth);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('content-type'), path).toMatch(/^text\/html/);
      expect(await res.text(), path).toContain(`<code id="error-code">${code}</code>`);
    }
  });

  it('may not be framed and sends nosniff and a CSP on every page, the 401 included; the explorer runs only its own script', async () => {
    const app = createApp(stack.api);
    app.route('/admin', createDashboard(dashboardDepsFromApi(stack.api, '/admin')));
    const standalone = (path: string, auth = true) => get(path, auth ? basic(stack.adminToken) : undefined);
    const mounted = (path: string, auth = true) =>
      app.request(`/admin${path === '/' ? '' : path}`, { headers: auth ? { authorization: basic(stack.adminToken) } : {} });
    for (const fetchPage of [standalone, mounted]) {
      for (const [path, auth, board] of [
        ['/', true, false],
        [`/jobs/${jobId}`, true, false],
        ['/overview', true, false],
        ['/', false, false],
        ['/queues', true, true],
        ['/queues/api/queues', true, true],
      ] as const) {
        const res = await fetchPage(path, auth);
        expect(res.status, path).toBe(auth ? 200 : 401);
        expect(res.headers.get('x-frame-options'), path).toBe('DENY');
        expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
        const csp = res.headers.get('content-security-policy') ?? '';
        expect(csp, path).toContain("frame-ancestors 'none'");
        // Bull Board brings its own scripts; the explorer's pages allow theirs by hash only.
        if (board) expect(csp, path).not.toContain('script-src');
        else expect(csp, path).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*';/);
      }
    }
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
    // With a trailing slash (as a user types it, and as Bull Board's base href ends): the same
    // page, by a redirect that only the admin gets.
    for (const [from, to] of [
      ['/admin/', '/admin'],
      ['/admin/queues/', '/admin/queues'],
      ['/admin/?status=failed', '/admin?status=failed'],
    ]) {
      const res = await app.request(from!, auth);
      expect(res.status, from).toBe(308);
      expect(res.headers.get('location'), from).toBe(to);
      expect((await app.request(to!, auth)).status, to).toBe(200);
    }
    expect((await app.request('/admin/queues/')).status).toBe(401);
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
  // ---- the explorer: filters, trace, webhooks, overview, actions ----

  const auth = () => `Bearer ${stack.adminToken}`;
  /** A form post as a browser sends it: Basic credentials and its own Origin. */
  const post = (path: string, headers: Record<string, string> = { authorization: basic(stack.adminToken), origin: url }) =>
    fetch(`${url}${path}`, { method: 'POST', headers, redirect: 'manual' });
  const pgStatus = async (id: string) =>
    (await stack.database.db.query<{ status: string }>(sql`SELECT status FROM jobs WHERE id = ${id}`))[0]?.status;

  it('requires the admin token on the new pages and actions: 401 without, 403 for a tenant key, nothing changes', async () => {
    const api = client(stack.url, tenantKey);
    const slow = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body.id as string;
    for (const path of ['/overview', `/jobs/${slow}/cancel`, `/jobs/${slow}/retry`, `/jobs/${slow}/webhooks/redeliver`]) {
      const method = path === '/overview' ? 'GET' : 'POST';
      const none = await fetch(`${url}${path}`, { method, headers: { origin: url }, redirect: 'manual' });
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate'), path).toMatch(/^Basic /);
      for (const authorization of [`Bearer ${tenantKey}`, basic(tenantKey)]) {
        const res = await fetch(`${url}${path}`, { method, headers: { authorization, origin: url }, redirect: 'manual' });
        expect(res.status, path).toBe(403);
      }
    }
    expect(await pgStatus(slow)).toBe('queued');
    expect((await post(`/jobs/${slow}/cancel`)).status).toBe(303);
    expect(await pgStatus(slow)).toBe('canceled');
  });

  it('refuses a cross-site form post (CSRF) under Basic auth and lets the same-origin one through', async () => {
    const api = client(stack.url, tenantKey);
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body.id as string;
    const credentials = { authorization: basic(stack.adminToken) };
    for (const headers of <Record<string, string>[]>[
      {},
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site', origin: url },
    ]) {
      const res = await post(`/jobs/${id}/cancel`, { ...credentials, ...headers });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      const page = await res.text();
      expect(page).toContain('<code id="error-code">csrf_rejected</code>');
      expect(page).toContain('cross-site request refused');
    }
    expect(await pgStatus(id)).toBe('queued');
    const ok = await post(`/jobs/${id}/cancel`, { ...credentials, 'sec-fetch-site': 'same-origin' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/jobs/${id}?done=canceled`);
    expect(await pgStatus(id)).toBe('canceled');
    // A Bearer token is never sent by a browser on its own: no Origin needed. Canceling again is a 409 page.
    const again = await post(`/jobs/${id}/cancel`, { authorization: auth() });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('<code id="error-code">job_finished</code>');
  });

  it('cancels a running job and retries it from the job page actions (PostgreSQL follows)', async () => {
    const api = client(stack.url, tenantKey);
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 20, stepMs: 200 } })).body.id as string;
    await api.waitFor(id, ['running']);
    const page = await (await get(`/jobs/${id}`, auth())).text();
    expect(page).toContain(`action="/jobs/${id}/cancel"`);
    expect(page).not.toContain(`action="/jobs/${id}/retry"`);
    expect((await post(`/jobs/${id}/cancel`)).status).toBe(303);
    expect((await api.waitFor(id, ['canceled'], 10_000)).status).toBe('canceled');
    expect(await pgStatus(id)).toBe('canceled');

    const after = await (await get(`/jobs/${id}?done=retried`, auth())).text();
    expect(after).toContain('<p class="notice" id="done">Queued again.</p>');
    // Only the actions' own names: an object's built-in keys showed "function Object() …".
    for (const done of ['constructor', '__proto__', 'toString'])
      expect(await (await get(`/jobs/${id}?done=${done}`, auth())).text()).not.toContain('id="done"');
    expect(after).toContain(`action="/jobs/${id}/retry"`);
    expect(after).not.toContain(`action="/jobs/${id}/cancel"`);
    expect((await post(`/jobs/${id}/retry`)).headers.get('location')).toBe(`/jobs/${id}?done=retried`);
    await api.waitFor(id, ['queued', 'running'], 5_000);
    expect(['queued', 'running', 'completed']).toContain(await pgStatus(id));
    expect((await api.call('POST', `/v1/jobs/${id}/cancel`)).status).toBeLessThan(300); // leave nothing running
  });

  it('filters by tenant (id or name) and creation time, and pages with the filters kept', async () => {
    const other = await stack.tenant('other-tenant');
    const api = client(stack.url, other.apiKey);
    const before = new Date(Date.now() - 1_000);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api.submit({ type: 'debug-steps', input: { steps: 0 } })).body.id);
    const rows = (html: string) => [...html.matchAll(/data-job-id="([^"]+)"/g)].map((m) => m[1]);

    for (const tenant of [other.id, 'other-tenant']) {
      expect(rows(await (await get(`/?tenant=${tenant}`, auth())).text()), tenant).toEqual([...ids].reverse());
    }
    expect(rows(await (await get(`/?tenant=${tenantId}`, auth())).text())).not.toContain(ids[0]);
    const from = encodeURIComponent(before.toISOString());
    expect(rows(await (await get(`/?tenant=other-tenant&from=${from}`, auth())).text())).toHaveLength(3);
    const past = encodeURIComponent(before.toISOString().slice(0, 16)); // as the datetime-local input sends it
    expect(rows(await (await get(`/?tenant=other-tenant&to=${past}`, auth())).text())).toEqual([]);

    const first = await (await get('/?tenant=other-tenant&limit=2', auth())).text();
    expect(rows(first)).toEqual([ids[2], ids[1]]);
    const older = /id="older" href="([^"]+)"/.exec(first)?.[1]?.replaceAll('&amp;', '&');
    expect(older).toContain('tenant=other-tenant');
    expect(older).toContain('limit=2');
    const second = await (await get(older!, auth())).text();
    expect(rows(second)).toEqual([ids[0]]);
    expect(second).not.toContain('id="older"');
  });

  it('answers a bad filter with 400, its code and message (not an unfiltered list)', async () => {
    for (const path of [
      '/?status=done',
      '/?from=yesterday',
      '/?from=2026-01-02&to=2026-01-01',
      '/?cursor=x',
      '/?limit=0',
      '/overview?days=0',
    ]) {
      const res = await get(path, auth());
      expect(res.status, path).toBe(400);
      const page = await res.text();
      expect(page, path).toContain('<code id="error-code">invalid_filter</code>');
      expect(page, path).not.toContain('data-job-id');
    }
  });

  it('answers filter values PostgreSQL cannot take with 400 invalid_filter, never a 500 with its error', async () => {
    const app = createApp(stack.api);
    app.route('/admin', createDashboard(dashboardDepsFromApi(stack.api, '/admin')));
    for (const path of [
      '/?from=10000',
      '/?from=275760-09-13',
      '/?from=-271821-04-20T00:00:00Z',
      // Not 2 March: refused, as the API's /v1/usage refuses it.
      '/?from=2026-02-30T00:00',
      '/?type=a%00b',
      '/?tenant=%00',
      '/overview?tenant=%00',
    ]) {
      // `/admin?…`: `/admin/?…` is redirected there first.
      const mounted = await app.request(`/admin${path.replace(/^\/\?/, '?')}`, { headers: { authorization: auth() } });
      for (const res of [await get(path, auth()), mounted]) {
        expect(res.status, path).toBe(400);
        const page = await res.text();
        expect(page, path).toContain('<code id="error-code">invalid_filter</code>');
        expect(page, path).not.toMatch(/out of range|invalid byte sequence/);
      }
    }
  });

  it("shows a chat job's model-call trace with tokens and cost", async () => {
    const api = client(stack.url, tenantKey);
    const res = await api.submit({ type: 'chat', input: { messages: [{ role: 'user', content: 'hello dashboard' }] } });
    const job = await api.waitFor(res.body.id);
    expect(job.status).toBe('completed');
    const trace = (await api.call('GET', `/v1/jobs/${job.id}/trace`)).body.data as {
      id: string;
      inputTokens: number;
      outputTokens: number;
    }[];
    expect(trace.length).toBeGreaterThan(0);
    const page = await (await get(`/jobs/${job.id}`, auth())).text();
    expect(page).toContain('id="model-calls"');
    for (const call of trace) expect(page).toContain(`data-call-id="${call.id}"`);
    expect(page).toContain('chat openai:gpt-4o-mini');
    const cost = job.usage.costUsd as number;
    expect(cost).toBeGreaterThan(0);
    expect(page).toContain(`${job.usage.inputTokens} in / ${job.usage.outputTokens} out tokens`);
  });

  it('shows webhook attempts and redelivers the webhook from the job page', async () => {
    const receiver = await startReceiver(() => webhookSecret, [500, 200]);
    try {
      const api = client(stack.url, tenantKey);
      const res = await api.submit({ type: 'debug-steps', input: { steps: 1 }, webhook: { url: receiver.url } });
      const id = res.body.id as string;
      await receiver.waitFor(2);
      const attempts = (html: string) => [...html.matchAll(/data-attempt="(\d+)"/g)].map((m) => Number(m[1]));
      const page = await eventually('two attempts on the page', async () => {
        const html = await (await get(`/jobs/${id}`, auth())).text();
        return attempts(html).length === 2 && html.includes('class="status succeeded"') ? html : undefined;
      });
      expect(page).toContain('id="webhooks"');
      expect(page).toMatch(/<td>500<\/td>/);
      expect(page).toMatch(/<td>200<\/td>/);
      expect(page).toContain(`action="/jobs/${id}/webhooks/redeliver"`);

      const redo = await post(`/jobs/${id}/webhooks/redeliver`);
      expect(redo.status).toBe(303);
      expect(redo.headers.get('location')).toBe(`/jobs/${id}?done=redelivered`);
      await receiver.waitFor(3);
      expect(receiver.received[2]!.verified).toBe(true);
      expect(receiver.received[2]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
      const later = await eventually('the third attempt on the page', async () => {
        const html = await (await get(`/jobs/${id}?done=redelivered`, auth())).text();
        return attempts(html).includes(3) ? html : undefined;
      });
      expect(later).toContain('Webhook delivery queued again.');
      // A job without any delivery: 404 with a code.
      const plain = await post(`/jobs/${jobId}/webhooks/redeliver`);
      expect(plain.status).toBe(404);
      expect(await plain.text()).toContain('<code id="error-code">not_found</code>');
    } finally {
      await receiver.close();
    }
  });

  it('shows queue depth, throughput and the per-tenant cost chart on the overview', async () => {
    const api = client(stack.url, tenantKey);
    const waiting = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body.id as string;
    const chat = await api.waitFor(
      (await api.submit({ type: 'chat', input: { messages: [{ role: 'user', content: 'chart me' }] } })).body.id,
    );
    const res = await get('/overview?days=2', auth());
    expect(res.status).toBe(200);
    const page = await res.text();
    // Every queue has a row; the delayed job is counted where BullMQ holds it.
    for (const q of [...stack.api.registry.list.map((d) => d.name), 'webhooks']) expect(page).toContain(`data-queue="${q}"`);
    const counts = await stack.api.queues.get('debug-steps').getJobCounts('delayed');
    expect(counts.delayed).toBeGreaterThanOrEqual(1);
    const delayedCell = /data-queue="debug-steps">.*?<\/td><td class="num">\d+<\/td>\s*<td class="num">(\d+)<\/td>/s.exec(page);
    expect(Number(delayedCell?.[1])).toBe(counts.delayed);
    // Throughput from PostgreSQL: the jobs this file completed in the last minutes.
    const done15 = Number(/data-type="debug-steps">.*?data-completed15m="(\d+)"/s.exec(page)?.[1]);
    const { n } = (
      await stack.database.db.query<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM jobs WHERE type = 'debug-steps' AND status = 'completed' AND finished_at > now() - interval '15 minutes'`,
      )
    )[0]!;
    expect(done15).toBe(n);
    expect(done15).toBeGreaterThan(0);
    // The cost chart: one series for this tenant whose bars sum to its spend in model_calls.
    const { cost } = (
      await stack.database.db.query<{ cost: number }>(
        sql`SELECT sum(cost_usd)::float8 AS cost FROM model_calls WHERE tenant_id = ${tenantId}`,
      )
    )[0]!;
    expect(cost).toBeGreaterThanOrEqual(chat.usage.costUsd);
    const chart = page.slice(page.indexOf('id="cost-chart"'), page.indexOf('</figure>', page.indexOf('id="cost-chart"')));
    const bars = [...chart.matchAll(/data-series="dash-tenant" data-bucket="[^"]+" data-value="([\d.e-]+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(bars.length).toBeGreaterThan(0);
    expect(bars.reduce((a, b) => a + b, 0)).toBeCloseTo(cost, 9);
    expect(page).toContain(`data-tenant="${tenantId}"`);
    // Filtered to another tenant: no bars of this one.
    const otherPage = await (await get('/overview?days=2&tenant=nobody', auth())).text();
    expect(otherPage).not.toContain('data-series="dash-tenant"');
    expect(otherPage).toContain('No model calls in this window.');
    await api.call('POST', `/v1/jobs/${waiting}/cancel`);
  });

  it('keeps the actions under /admin in the one-process mount', async () => {
    const app = createApp(stack.api);
    app.route('/admin', createDashboard(dashboardDepsFromApi(stack.api, '/admin')));
    const api = client(stack.url, tenantKey);
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 60_000 })).body.id as string;
    const headers = { authorization: basic(stack.adminToken) };
    const page = await (await app.request(`/admin/jobs/${id}`, { headers })).text();
    expect(page).toContain(`action="/admin/jobs/${id}/cancel"`);
    expect(page).toContain('href="/admin/overview"');
    expect((await app.request('/admin/overview', { headers })).status).toBe(200);
    const cross = await app.request(`http://spool.local/admin/jobs/${id}/cancel`, {
      method: 'POST',
      headers: { ...headers, origin: 'http://evil.example' },
    });
    expect(cross.status).toBe(403);
    const res = await app.request(`http://spool.local/admin/jobs/${id}/cancel`, {
      method: 'POST',
      headers: { ...headers, host: 'spool.local', origin: 'http://spool.local' },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/admin/jobs/${id}?done=canceled`);
    expect(await pgStatus(id)).toBe('canceled');
  });
});
