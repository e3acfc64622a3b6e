/** The explorer's server-rendered pages. */
export { barChart, niceMax } from './bar-chart.ts';
export { errorPage } from './error-page.ts';
export { jobList, type ListView } from './job-list.ts';
export { LIVE_SCRIPT_HASH } from './job-live.ts';
export { type JobView, jobPage } from './job-page.ts';
export { durationMs, layout } from './layout.ts';
export { type OverviewView, overviewPage, tenantSeries } from './overview.ts';
