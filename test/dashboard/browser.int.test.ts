/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium). Skipped when
 * /usr/bin/chromium is absent (install it with `apt-get install -y chromium`). Screenshots of
 * each main page go to test-artifacts/dashboard/ (gitignored): jobs, job (running, finished,
 * canceled), overview, Bull Board (queues, failed job).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { createDashboard, dashboardDepsFromApi } from '@spool/dashboard';
import { sql } from 'drizzle-orm';
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

  it("the explorer shows a running job's steps, timeline and progress live (no reload), then the finished job", async () => {
    const sub = await api.submit({ type: 'debug-steps', input: { steps: 5, stepMs: 700 } });
    expect(sub.status).toBe(202);
    const id: string = sub.body.id;
    const page = await admin.newPage();
    await page.goto(`${url}/jobs/${id}`, { waitUntil: 'domcontentloaded' });
    // A marker that a reload would wipe: everything below until the terminal event happens in place.
    await page.evaluate(() => {
      (window as unknown as { __sameDocument: boolean }).__sameDocument = true;
    });
    const sameDocument = () => page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument === true);
    await page.locator('#events li', { hasText: 'progress' }).first().waitFor({ timeout: 20_000 });
    await page.locator('#steps tbody tr[data-step="step-3"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#status').textContent()).toMatch(/^running/);
    expect(await sameDocument()).toBe(true);
    // Steps done so far are completed in the table; the current one runs; the timeline has a bar per step.
    expect(await page.locator('#steps tr[data-step="step-1"] td.status').textContent()).toBe('completed');
    expect(await page.locator('#timeline .bar').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#timeline .bar.running').count()).toBe(1);
    const pct = Number(await page.locator('#progress').getAttribute('value'));
    expect(pct).toBeGreaterThanOrEqual(20);
    expect(pct).toBeLessThan(100);
    // The timeline is redrawn on a timer between events (every 500 ms): its span (start → now)
    // keeps growing, in place. Polled: two reads 600 ms apart can fall on redraws only 100 ms
    // apart, which failed under load.
    const span = async () => Number(await page.locator('#timeline').getAttribute('data-span-ms'));
    const s1 = await span();
    await expect.poll(span, { timeout: 1_200, interval: 100 }).toBeGreaterThan(s1 + 300);
    expect(await sameDocument()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'job-running.png'), fullPage: true });

    // At the terminal event the page reloads once and shows the finished job with its result.
    await page.locator('#result').waitFor({ timeout: 30_000 });
    expect(await sameDocument()).toBe(false);
    expect(await page.locator('#status').getAttribute('class')).toBe('status completed');
    expect(await page.locator('#steps tbody tr').count()).toBe(5);
    expect(await page.locator('#timeline .bar.completed').count()).toBe(5);
    expect(await page.locator('#progress').getAttribute('value')).toBe('100');
    await page.screenshot({ path: join(ARTIFACTS, 'job.png'), fullPage: true });
    await page.close();
  });

  it('cannot be framed by another origin, so a lured click cannot cancel a job (clickjacking)', async () => {
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 })).body.id as string;
    // Another origin of the same site (another port): Chromium would send it the cached Basic credentials.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><iframe id="f" src="${url}/jobs/${id}" width="900" height="600"></iframe>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const ctx = await browser.newContext({ httpCredentials: { username: 'admin', password: stack.adminToken } });
    try {
      const page = await ctx.newPage();
      await page.goto(`${url}/`);
      // `load` waits for the frame too; a refused frame holds Chromium's error page instead.
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`, { waitUntil: 'load' });
      const buttons = await Promise.all(page.frames().map((f) => f.$('#cancel').catch(() => null)));
      expect(buttons.filter(Boolean)).toHaveLength(0);
      expect((await api.call('GET', `/v1/jobs/${id}`)).body.status).toBe('queued');
    } finally {
      await ctx.close();
      await new Promise((r) => evil.close(r));
    }
  });

  it('filters the jobs list from the form (status, type, tenant, time) and pages', async () => {
    const other = await stack.tenant('browser-other');
    const otherApi = client(stack.url, other.apiKey);
    const mine = (await otherApi.submit({ type: 'debug-steps', input: { steps: 1 } })).body.id as string;
    const failing = (await otherApi.submit({ type: 'debug-steps', input: { steps: 1, failAt: 1, failTimes: 9 } })).body
      .id as string;
    await otherApi.waitFor(mine);
    await otherApi.waitFor(failing);
    const page = await admin.newPage();
    await page.goto(`${url}/`, { waitUntil: 'domcontentloaded' });
    await page.locator(`tr[data-job-id="${mine}"]`).waitFor();
    await page.selectOption('select[name="status"]', 'failed');
    await page.selectOption('select[name="type"]', 'debug-steps');
    await page.fill('input[name="tenant"]', 'browser-other');
    await Promise.all([page.waitForURL(/status=failed/), page.click('button[type="submit"]')]);
    const ids = await page.locator('#jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job-id')));
    expect(ids).toEqual([failing]);
    expect(await page.locator('#jobs td.status').allTextContents()).toEqual(['failed']);
    await page.screenshot({ path: join(ARTIFACTS, 'jobs-filtered.png'), fullPage: true });

    // A window that ends before these jobs were created: nothing. The inputs keep their values.
    await page.selectOption('select[name="status"]', '');
    await page.fill('input[name="to"]', '2020-01-01T00:00');
    await Promise.all([page.waitForURL(/to=2020/), page.click('button[type="submit"]')]);
    await page.getByText('No jobs match.').waitFor();
    expect(await page.inputValue('input[name="to"]')).toBe('2020-01-01T00:00');
    expect(await page.inputValue('input[name="tenant"]')).toBe('browser-other');

    // One job per page: "Older" keeps the filters and moves on.
    await page.goto(`${url}/?tenant=browser-other&limit=1`, { waitUntil: 'domcontentloaded' });
    expect(await page.locator('#jobs tbody tr').getAttribute('data-job-id')).toBe(failing);
    await Promise.all([page.waitForURL(/cursor=/), page.click('#older')]);
    expect(await page.locator('#jobs tbody tr').getAttribute('data-job-id')).toBe(mine);

    // A bad value is a 400 page with its code, not a silently unfiltered list.
    const bad = await page.goto(`${url}/?from=yesterday`);
    expect(bad?.status()).toBe(400);
    expect(await page.locator('#error-code').textContent()).toBe('invalid_filter');

    await page.goto(`${url}/?type=debug-steps`, { waitUntil: 'domcontentloaded' });
    await page.screenshot({ path: join(ARTIFACTS, 'jobs.png'), fullPage: true });
    await page.close();
  });

  it('cancel on the job page cancels a running job (PostgreSQL status canceled)', async () => {
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 40, stepMs: 300 } })).body.id as string;
    const page = await admin.newPage();
    await page.goto(`${url}/jobs/${id}`, { waitUntil: 'domcontentloaded' });
    await page.locator('#steps tbody tr[data-step="step-2"]').waitFor({ timeout: 20_000 });
    // A real form post from chromium: it carries the dashboard's own Origin / Sec-Fetch-Site.
    await Promise.all([page.waitForURL(/done=canceled/), page.click('#cancel')]);
    // The live canceled event, then the reload that shows the retry action.
    await page.locator('#retry').waitFor({ timeout: 20_000 });
    expect(await page.locator('#status').getAttribute('class')).toBe('status canceled');
    const job = await api.waitFor(id, ['canceled'], 5_000);
    expect(job.status).toBe('canceled');
    const [row] = await stack.database.db.query<{ status: string }>(sql`SELECT status FROM jobs WHERE id = ${id}`);
    expect(row?.status).toBe('canceled');
    expect(await page.locator('#retry').count()).toBe(1);
    expect(await page.locator('#cancel').count()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'job-canceled.png'), fullPage: true });
    await page.close();
  });

  it('the overview shows queue depth, throughput and the usage chart per tenant', async () => {
    // A chat job on the local provider: tokens (free), so the tokens chart has a bar.
    const chat = await api.waitFor(
      (await api.submit({ type: 'chat', input: { messages: [{ role: 'user', content: 'overview' }] } })).body.id,
    );
    expect(chat.status).toBe('completed');
    const page = await admin.newPage();
    const res = await page.goto(`${url}/overview?days=2`, { waitUntil: 'domcontentloaded' });
    expect(res?.status()).toBe(200);
    await page.locator('#queue-depth tr[data-queue="debug-steps"]').waitFor();
    await page.locator('#throughput tr[data-type="debug-steps"]').waitFor();
    expect(await page.locator('#tokens-chart rect.bar[data-series="browser-tenant"]').count()).toBeGreaterThan(0);
    expect(await page.locator('#cost-chart svg').isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
    await page.close();
  });

  it('Bull Board lists the queues and a failed job can be retried from it (PostgreSQL ends completed)', async () => {
    // step-1 fails on its first 3 runs: all 3 attempts fail; the retry's 4th run succeeds.
    const id = (await api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 5, failAt: 1, failTimes: 3 } })).body
      .id as string;
    expect((await api.waitFor(id)).status).toBe('failed');
    const queue = stack.api.queues.get('debug-steps');
    for (let i = 0; (await (await queue.getJob(id))?.getState()) !== 'failed'; i++) {
      if (i > 200) throw new Error('BullMQ never marked the job failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const page = await admin.newPage();
    await page.goto(`${url}/queues`, { waitUntil: 'domcontentloaded' });
    await page.getByText('debug-steps').first().waitFor({ timeout: 20_000 });
    await page.goto(`${url}/queues/queue/debug-steps?status=failed`, { waitUntil: 'domcontentloaded' });
    // The job's card: its id, and its icon buttons (Bull Board labels them only in tooltips).
    const card = page
      .locator('div', { has: page.getByText(id, { exact: true }) })
      .filter({ has: page.locator('button svg.lucide-refresh-cw') })
      .last();
    await card.waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'bull-board-failed.png'), fullPage: true });
    const retry = card.locator('button:has(svg.lucide-refresh-cw)').first();
    await retry.hover();
    await page
      .getByText(/^Retry$/)
      .first()
      .waitFor({ timeout: 5_000 }); // the tooltip names the button
    await retry.click();
    // Bull Board asks first; its confirmation sends the PUT (from the page's own origin, so the
    // dashboard's same-origin check lets it through).
    await page.getByText('Are you sure that you want to retry this job?').waitFor({ timeout: 5_000 });
    const [put] = await Promise.all([
      page.waitForResponse(
        (r) => r.request().method() === 'PUT' && r.url().includes(`/queues/api/queues/debug-steps/${id}/retry`),
      ),
      page.getByRole('button', { name: 'Confirm' }).click(),
    ]);
    expect(put.status()).toBe(204);
    const done = await api.waitFor(id, ['completed'], 30_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 4 });
    const [row] = await stack.database.db.query<{ status: string }>(sql`SELECT status FROM jobs WHERE id = ${id}`);
    expect(row?.status).toBe('completed');
    await page.close();
  });
});
