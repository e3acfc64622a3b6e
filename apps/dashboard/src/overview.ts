/** GET /overview: queue depth, throughput and usage per tenant (see stats.ts and views/overview.ts). */
import type { Hono } from 'hono';
import type { DashboardDeps } from './app.ts';
import { parseUsageQuery } from './filters.ts';
import { bucketStarts, queueDepths, throughput, usageSeries } from './stats.ts';
import { overviewPage } from './views/index.ts';

export function registerOverview(app: Hono, deps: DashboardDeps, base: string): void {
  app.get('/overview', async (c) => {
    const query = parseUsageQuery((k) => c.req.query(k));
    const to = new Date();
    const from = new Date(to.getTime() - query.days * 86_400_000);
    // Hours for a short window (a day of bars), days beyond.
    const bucket = query.days <= 2 ? 'hour' : 'day';
    const [depths, rates, usage] = await Promise.all([
      queueDepths(deps.queues),
      throughput(deps.db),
      usageSeries(deps.db, { from, to, bucket, tenant: query.tenant }),
    ]);
    return c.html(
      overviewPage({ base, depths, throughput: rates, usage, buckets: bucketStarts(from, to, bucket), bucket, query }),
    );
  });
}
