/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium). Skipped when
 * /usr/bin/chromium is absent (install it with `apt-get install -y chromium`). Screenshots of
 * each main page go to test-artifacts/dashboard/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, type Stack, startStack } from '../support/stack.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');

describe.skipIf(!existsSync(CHROMIUM))('dashboard in a browser', () => {
  let stack: Stack;
  let server: ServerType;
  let url: string;
  let browser: Browser;
  let admin: BrowserContext;
  let api: ReturnType<typeof client>;

  /** A context that only reaches the dashboard (Bull Board links Google Fonts). */
  const context = async (credentials?: { username: string; password: string }) => {
    const ctx = await browser.newContext(credentials ? { httpCredentials: credentials } : {});
    await ctx.route(
      (u) => !u.href.startsWith(url),
      (route) => route.abort(),
    );
    return ctx;
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startStack();
    const t = await stack.tenant('browser-tenant');
    api = client(stack.url, t.apiKey);
    const app = createDashboard(dashboardDepsFromApi(stack.api, ''));
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    admin = await context({ username: 'admin', password: stack.adminToken });
  });
  afterAll(async () => {
    await browser?.close();
    if (server) {
      (server as import('node:http').Server).closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
    await stack?.close();
  });

  /** Navigates and returns the dashboard's answers (headless chromium has no login prompt: a 401 it cannot answer ends the navigation). */
  const attempt = async (ctx: BrowserContext, path: string) => {
    const page = await ctx.newPage();
    const answers: { status: number; auth: string | undefined }[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(url)) answers.push({ status: r.status(), auth: r.headers()['www-authenticate'] });
    });
    const error = await page.goto(`${url}${path}`).then(
      () => undefined,
      (err: Error) => err.message,
    );
    await page.close();
    return { answers, error };
  };

  it('requires the login: no credentials or wrong ones get 401 with a Basic challenge', async () => {
    const anon = await context();
    const a = await attempt(anon, '/');
    // Chromium either ends the navigation (ERR_INVALID_AUTH_CREDENTIALS) or shows the 401 page.
    if (a.error) expect(a.error).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(a.answers.length).toBeGreaterThan(0);
    for (const r of a.answers) {
      expect(r.status).toBe(401);
      expect(r.auth).toMatch(/^Basic /);
    }
    await anon.close();
    const wrong = await context({ username: 'admin', password: 'not-the-token' });
    const w = await attempt(wrong, '/queues');
    if (w.error) expect(w.error).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(w.answers.length).toBeGreaterThan(0);
    expect(w.answers.every((r) => r.status === 401)).toBe(true);
    await wrong.close();
    // The same browser with the admin token gets in.
    const ok = await attempt(admin, '/');
    expect(ok.error).toBeUndefined();
    expect(ok.answers.at(-1)?.status).toBe(200);
  });

  it('Bull Board renders and lists the queues', async () => {
    const page = await admin.newPage();
    const res = await page.goto(`${url}/queues`, { waitUntil: 'domcontentloaded' });
    expect(res?.status()).toBe(200);
    await page.getByText('debug-steps').first().waitFor({ timeout: 20_000 });
    await page.getByText('webhooks').first().waitFor({ timeout: 5_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'bull-board.png'), fullPage: true });
    await page.close();
  });

  it("the explorer shows a running job's live progress, then its steps", async () => {
    const sub = await api.submit({ type: 'debug-steps', input: { steps: 4, stepMs: 600 } });
    expect(sub.status).toBe(202);
    const id: string = sub.body.id;
    const page = await admin.newPage();
    await page.goto(`${url}/jobs/${id}`, { waitUntil: 'domcontentloaded' });
    // Live: progress events arrive over SSE while the job runs.
    await page.locator('#events li', { hasText: 'progress' }).first().waitFor({ timeout: 20_000 });
    const pct = Number(await page.locator('#progress').getAttribute('value'));
    expect(pct).toBeGreaterThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'job-running.png'), fullPage: true });
    // At the terminal event the page reloads and shows the finished job with its steps.
    await page.locator('#status.completed').waitFor({ timeout: 30_000 });
    expect(await page.locator('#steps tbody tr').count()).toBe(4);
    expect(await page.locator('#progress').getAttribute('value')).toBe('100');
    await page.screenshot({ path: join(ARTIFACTS, 'job.png'), fullPage: true });

    await page.goto(`${url}/?type=debug-steps`, { waitUntil: 'domcontentloaded' });
    await page.locator(`tr[data-job-id="${id}"]`).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'jobs.png'), fullPage: true });
    await page.close();
  });
});
