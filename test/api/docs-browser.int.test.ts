/**
 * GET /docs in a real browser that can reach nothing but the API (playwright-core driving
 * Debian's chromium; skipped without /usr/bin/chromium): Swagger UI renders the OpenAPI
 * document from files the API serves itself, so the page works on a machine without internet.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/http.ts';
import { type Stack, startStack } from '../support/stack.ts';

const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM))('/docs in a browser, offline', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startStack({ worker: false });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('renders the API reference with no request leaving the API', async () => {
    const ctx = await browser.newContext();
    const outside: string[] = [];
    await ctx.route(
      (u) => !u.href.startsWith(stack.url),
      (route) => {
        outside.push(route.request().url());
        return route.abort();
      },
    );
    const page = await ctx.newPage();
    await page.goto(`${stack.url}/docs`);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 20_000 });
    expect(await page.textContent('.swagger-ui .info .title')).toContain('Spool API');
    // Operations from the document, e.g. the submit route.
    await page.waitForSelector('.opblock-summary-path[data-path="/v1/jobs"]', { timeout: 10_000 });
    expect(outside).toEqual([]);
    await ctx.close();
  });

  it('serves only the two Swagger UI files', async () => {
    const css = await request(stack.url, '/docs/assets/swagger-ui-dist/swagger-ui.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    for (const path of ['package.json', 'index.html', '..%2F..%2Fpackage.json']) {
      expect((await request(stack.url, `/docs/assets/swagger-ui-dist/${path}`)).status, path).toBe(404);
    }
  });
});
