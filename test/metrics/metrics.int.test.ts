/**
 * /metrics after a real run, parsed (test/support/prometheus.ts) rather than grepped: in the
 * one-process mode (API and worker in this process) the API's /metrics has the HTTP, submit,
 * execution, duration, queue-wait, queue-depth, worker and SSE series with values that match
 * what ran; a worker process alone serves its own on WORKER_METRICS_PORT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Child } from '../support/children.ts';
import { REDIS_URL } from '../support/env.ts';
import { freePort, waitUntil } from '../support/ports.ts';
import { type Family, parsePrometheus, type Sample } from '../support/prometheus.ts';
import { openRaw } from '../support/sse-client.ts';
import { client, type Stack, startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

type Families = Map<string, Family>;

async function scrape(url: string): Promise<Families> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

/** Samples of `family` (exact sample name, e.g. a histogram's `_count`) whose labels include `labels`. */
function samples(f: Families, family: string, name: string, labels: Record<string, string> = {}): Sample[] {
  const fam = f.get(family);
  if (!fam) throw new Error(`no family ${family}`);
  return fam.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
const value = (f: Families, family: string, labels: Record<string, string> = {}, name = family) =>
  samples(f, family, name, labels).reduce((sum, s) => sum + s.value, 0);

/** A histogram's series for `labels`: buckets non-decreasing in `le`, +Inf equal to _count. */
function histogram(f: Families, family: string, labels: Record<string, string>) {
  expect(f.get(family)?.type).toBe('histogram');
  const buckets = samples(f, family, `${family}_bucket`, labels).map((s) => ({
    le: s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le),
    n: s.value,
  }));
  expect(buckets.length).toBeGreaterThan(2);
  const byLe = [...buckets].sort((a, b) => a.le - b.le);
  for (let i = 1; i < byLe.length; i++) expect(byLe[i]!.n).toBeGreaterThanOrEqual(byLe[i - 1]!.n);
  const count = value(f, family, labels, `${family}_count`);
  expect(byLe.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, n: count });
  return { count, sum: value(f, family, labels, `${family}_sum`) };
}

describe('/metrics after a run', () => {
  let stack: Stack;
  let apiKey: string;

  beforeAll(async () => {
    stack = await startStack();
    apiKey = (await stack.tenant('metrics')).apiKey;
  });
  afterAll(() => stack?.close());

  it('one process: the named series exist with values that match the run', async () => {
    const api = client(stack.url, apiKey);
    const ok = await Promise.all([1, 2, 3].map(() => api.submit({ type: 'debug-steps', input: { steps: 2, stepMs: 5 } })));
    // Fails its 3 attempts: 2 executions end `retry`, the last `failed`.
    const bad = await api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1, failAt: 1, failTimes: 99 } });
    // Runs long enough to be followed over SSE while the scrape happens.
    const slow = await api.submit({ type: 'debug-steps', input: { steps: 30, stepMs: 100 } });
    for (const r of [...ok, bad, slow]) expect(r.status).toBe(202);
    // Canceled while queued: the API ends it, and no worker ever sees it.
    const parked = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 });
    expect((await api.call('POST', `/v1/jobs/${parked.body.id}/cancel`)).status).toBe(200);

    const stream = await openRaw(stack.url, apiKey, slow.body.id);
    expect(stream.status).toBe(200);
    await stream.events((e) => e.event === 'progress', 10_000); // the subscriber is live
    const during = await scrape(stack.url);
    expect(during.get('spool_sse_subscribers')?.type).toBe('gauge');
    expect(value(during, 'spool_sse_subscribers')).toBe(1);
    expect(value(during, 'spool_worker_active_jobs', { type: 'debug-steps' })).toBeGreaterThanOrEqual(1);
    stream.close();

    for (const r of [...ok, slow]) expect((await api.waitFor(r.body.id, undefined, 30_000)).status).toBe('completed');
    expect((await api.waitFor(bad.body.id, undefined, 30_000)).status).toBe('failed');
    const f = await waitUntil(
      'the SSE stream to be counted as closed, and BullMQ to have recorded every end',
      async () => {
        // Queue depth is read at most once a second (queue/depth.ts).
        await new Promise((r) => setTimeout(r, 1_100));
        const m = await scrape(stack.url);
        const settled =
          value(m, 'spool_sse_subscribers') === 0 &&
          value(m, 'spool_queue_depth', { queue: 'debug-steps', state: 'completed' }) === 4 &&
          value(m, 'spool_queue_depth', { queue: 'debug-steps', state: 'failed' }) === 1;
        return settled ? m : undefined;
      },
      15_000,
      0,
    );
    const type = { type: 'debug-steps' };

    // Submissions and ends, by type and status.
    expect(f.get('spool_jobs_submitted_total')?.type).toBe('counter');
    expect(value(f, 'spool_jobs_submitted_total', type)).toBe(6);
    expect(value(f, 'spool_jobs_finished_total', { ...type, status: 'completed' })).toBe(4);
    expect(value(f, 'spool_jobs_finished_total', { ...type, status: 'failed' })).toBe(1);
    expect(value(f, 'spool_jobs_finished_total', { ...type, status: 'canceled' })).toBe(1);
    // Executions: 4 completed attempts, 2 retried, 1 final failure.
    expect(value(f, 'spool_job_executions_total', { ...type, outcome: 'completed' })).toBe(4);
    expect(value(f, 'spool_job_executions_total', { ...type, outcome: 'retry' })).toBe(2);
    expect(value(f, 'spool_job_executions_total', { ...type, outcome: 'failed' })).toBe(1);

    // One duration observation per attempt; one queue-wait observation per job's first attempt.
    const duration = histogram(f, 'spool_job_duration_seconds', type);
    expect(duration.count).toBe(7);
    expect(duration.sum).toBeGreaterThanOrEqual(3); // the slow job alone sleeps 30 × 100 ms
    const wait = histogram(f, 'spool_job_queue_wait_seconds', type);
    expect(wait.count).toBe(5);
    expect(wait.sum).toBeGreaterThanOrEqual(0);

    // Queue depth by state, for every queue (job types and webhooks): all present, none negative.
    const depth = f.get('spool_queue_depth')!;
    expect(depth.type).toBe('gauge');
    const queues = new Set(depth.samples.map((s) => s.labels.queue));
    expect(queues).toContain('debug-steps');
    expect(queues).toContain('webhooks');
    for (const q of queues) {
      const states = depth.samples.filter((s) => s.labels.queue === q);
      expect(states.map((s) => s.labels.state).sort(), q).toEqual([
        'active',
        'completed',
        'delayed',
        'failed',
        'prioritized',
        'wait',
        'waiting-children',
      ]);
      for (const s of states) expect(s.value, `${q} ${s.labels.state}`).toBeGreaterThanOrEqual(0);
    }
    expect(value(f, 'spool_queue_depth', { queue: 'debug-steps', state: 'wait' })).toBe(0);
    expect(value(f, 'spool_queue_depth', { queue: 'debug-steps', state: 'active' })).toBe(0);

    // Workers of this process, one per job type; no job left running.
    expect(value(f, 'spool_workers_running', { queue: 'debug-steps' })).toBe(1);
    expect(value(f, 'spool_worker_active_jobs', type)).toBe(0);

    // HTTP by route pattern, method and status: never a raw path (ids would make a series per job).
    const http = f.get('spool_http_request_duration_seconds')!;
    const routes = new Set(http.samples.map((s) => s.labels.route));
    expect(routes).toContain('/v1/jobs');
    expect(routes).toContain('/v1/jobs/:id');
    expect(routes).toContain('/v1/jobs/:id/events');
    for (const r of routes) expect(r, 'a raw path in a route label').not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}/);
    const polls = histogram(f, 'spool_http_request_duration_seconds', { route: '/v1/jobs/:id', method: 'GET', status: '200' });
    expect(polls.count).toBeGreaterThanOrEqual(5);
    expect(histogram(f, 'spool_http_request_duration_seconds', { route: '/v1/jobs', method: 'POST', status: '202' }).count).toBe(
      6,
    );

    // Declared even before their first observation: dashboards never miss a series name.
    for (const name of [
      'spool_reconciler_repairs_total',
      'spool_webhook_attempts_total',
      'spool_webhooks_pending',
      'spool_model_requests_total',
      'spool_model_tokens_total',
      'spool_model_cost_usd_total',
      'spool_model_cache_hits_total',
      'spool_model_breaker_state',
    ]) {
      expect(f.get(name)?.help, name).toBeTruthy();
    }
    expect(value(f, 'spool_webhooks_pending')).toBe(0);
  });

  it("queue wait: from when a job could run (a delay's end, a retry through the API), not after a failed attempt", async () => {
    const api = client(stack.url, apiKey);
    const type = { type: 'debug-steps' };
    // Read as sums: run alone, the series has no sample yet.
    const waits = async () => {
      const f = await scrape(stack.url);
      const name = 'spool_job_queue_wait_seconds';
      return { count: value(f, name, type, `${name}_count`), sum: value(f, name, type, `${name}_sum`) };
    };
    const before = await waits();
    const delayed = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 3_000 });
    // Fails once, then runs again after BullMQ's backoff: that wait is not the queue's.
    const flaky = await api.submit({ type: 'debug-steps', input: { steps: 1, failAt: 1, failTimes: 1 } });
    const parked = await api.submit({ type: 'debug-steps', input: { steps: 1 }, delayMs: 600_000 });
    expect((await api.call('POST', `/v1/jobs/${parked.body.id}/cancel`)).status).toBe(200);
    // Retried through the API: it runs now, and its wait starts now.
    expect((await api.call('POST', `/v1/jobs/${parked.body.id}/retry`)).status).toBe(202);
    for (const j of [delayed, flaky, parked]) expect((await api.waitFor(j.body.id)).status).toBe('completed');

    const after = await waits();
    expect(after.count - before.count).toBe(3);
    // An idle worker takes each at once; counted from submit, the delay alone was 3 s.
    expect(after.sum - before.sum).toBeLessThan(2);
  });

  it('a worker process serves its own /metrics on WORKER_METRICS_PORT', async () => {
    const port = await freePort();
    // A second database-sharing worker on this stack's prefix, as in a multi-process deployment.
    let worker: Child | undefined;
    try {
      worker = await startWorkerProcess({
        databaseUrl: stack.database.url,
        redisUrl: REDIS_URL,
        prefix: stack.prefix,
        env: { WORKER_METRICS_PORT: String(port) },
      });
      // Only the worker process runs jobs from now on.
      await stack.worker!.close();
      stack.worker = undefined;
      const api = client(stack.url, apiKey);
      const jobs = await Promise.all([1, 2].map(() => api.submit({ type: 'debug-steps', input: { steps: 1, stepMs: 1 } })));
      for (const j of jobs) expect((await api.waitFor(j.body.id)).status).toBe('completed');

      const f = await scrape(`http://127.0.0.1:${port}`);
      expect(value(f, 'spool_job_executions_total', { type: 'debug-steps', outcome: 'completed' })).toBe(2);
      expect(histogram(f, 'spool_job_duration_seconds', { type: 'debug-steps' }).count).toBe(2);
      expect(value(f, 'spool_workers_running', { queue: 'debug-steps' })).toBe(1);
      // The API's series are the API's: the worker never counted a submission.
      expect(value(f, 'spool_jobs_submitted_total')).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // A query is not another path (as on the API).
      expect((await fetch(`http://127.0.0.1:${port}/metrics?x=1`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      await worker?.stop('SIGTERM');
    }
  });
});
