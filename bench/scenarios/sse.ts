/**
 * SSE at scale: N idle subscribers (each following its own job) held open by a separate
 * process while the API takes submissions. Measured twice, without and with the N
 * subscribers, the same way: submit throughput (autocannon), and event latency of a few
 * probe jobs that a worker runs meanwhile, against raw pub/sub in the same process.
 */
import { type LoadResult, load } from '../lib/autocannon.ts';
import { type Ctx, NOOP_JOB } from '../lib/context.ts';
import { cpuMs, machineCpu, rssBytes, startNode } from '../lib/proc.ts';
import { spoolClient } from '../lib/spool.ts';
import { nowMs, type Summary, sleep } from '../lib/stats.ts';
import type { SpoolSession } from './spool.ts';

export interface SseRound {
  /** Saturating submit load. */
  submit: LoadResult;
  /** The steady submit rate during the latency probe (a quarter of the saturated rate without subscribers). */
  steadyRate: number;
  steadyRps: number;
  hopMs: Summary;
  pubsubMs: Summary;
  events: { raw: number; sse: number; paired: number };
  /** What the cores were doing meanwhile: event hops wait on a busy API or on a busy machine. */
  probeLoad: ProbeLoad;
}

export interface ProbeLoad {
  /** Share of both cores busy (any process), and of their time stolen by the hypervisor. */
  machineBusy: number;
  machineSteal: number;
  /** CPU the API used, as a share of one core. */
  apiCpu: number;
  /**
   * The API's event-loop delay (prom-client's, reset at each /metrics scrape): how late a
   * 10 ms timer fired, the 10 ms included. A high delay with a low `apiCpu` means the API
   * was waiting for a core, not working.
   */
  apiLoopDelayP99Ms: number;
  apiLoopDelayMaxMs: number;
}

export interface SseResults {
  subscribers: number;
  opened: number;
  failed: number;
  openSeconds: number;
  /** API resident memory added by the open streams, per stream. */
  apiBytesPerConnection: number;
  holderBytesPerConnection: number;
  stillOpenAfterLoad: number;
  without: SseRound;
  with: SseRound;
}

// Submissions in this scenario wait an hour in BullMQ, so the worker runs only the probes.
const DELAYED_NOOP = { ...NOOP_JOB, delayMs: 3_600_000 };
const PROBE_DELAY_MS = 1_500;
const STEADY_SHARE = 0.25;

export async function runSse(ctx: Ctx, session: SpoolSession): Promise<SseResults> {
  const { s } = ctx;
  const { api, config } = session;
  const client = spoolClient(api.url, session.apiKey);
  const pingChannel = `${config.prefix}:bench-ping`;

  // Two client processes: `holder` keeps the N idle streams, `prober` follows the probe jobs
  // over SSE and their raw channels. The hop is the difference of two arrival times in the
  // prober: a prober that also served 10,000 sockets added its own stalls (collections, waits
  // for a core) to the hops of the streams it read late, and measured itself.
  const startClient = () =>
    startNode(
      'bench/clients/sse-holder.ts',
      { API_URL: api.url, API_KEY: session.apiKey, REDIS_URL: ctx.redis.url, PREFIX: config.prefix },
      { raiseFdLimit: true },
    );
  const holder = startClient();
  const prober = startClient();
  await Promise.all([holder.next('ready', 60_000), prober.next('ready', 60_000)]);

  /**
   * Throughput first (saturating submit load); then event latency while submissions arrive at
   * a steady `rate` (a saturated API answers everything late, events included: that would
   * measure its queue, not its event path).
   */
  const round = async (label: string, rate?: number): Promise<SseRound> => {
    ctx.log(`SSE round ${label}: saturating submit load for ${s.sseSeconds}s`);
    const submit = await load({
      url: `${api.url}/v1/jobs`,
      serverPid: api.child.pid,
      method: 'POST',
      headers: { authorization: client.headers.authorization },
      body: DELAYED_NOOP,
      connections: s.connections,
      seconds: s.sseSeconds,
      warmupSeconds: s.warmupSeconds,
    });
    const steadyRate = rate ?? Math.max(20, Math.round(submit.rps * STEADY_SHARE));
    ctx.log(`SSE round ${label}: ${s.probeJobs} probe jobs while submitting ${steadyRate}/s for ${s.sseSeconds}s`);
    const probes: string[] = [];
    for (let i = 0; i < s.probeJobs; i++) {
      // Delayed so that both the raw subscriber and the SSE stream are live before its first event.
      const job = await client.submit({
        type: 'debug-steps',
        input: { steps: s.probeSteps, stepMs: s.probeStepMs },
        delayMs: PROBE_DELAY_MS,
      });
      probes.push(job.id);
    }
    const submittedAt = Date.now();
    prober.send({ type: 'probe', ids: probes, pingChannel });
    await prober.next('probing', 60_000);
    await sleep(Math.max(0, submittedAt + PROBE_DELAY_MS + 200 - Date.now()));
    let pinging = true;
    const pinger = (async () => {
      while (pinging) {
        await ctx.redis.client.publish(pingChannel, String(nowMs()));
        await sleep(10);
      }
    })();
    const scrape = () => fetch(`${api.url}/metrics`).then((r) => r.text());
    await scrape(); // resets the API's event-loop delay histogram
    const [machine0, api0, t0] = [await machineCpu(), await cpuMs(api.child.pid), nowMs()];
    const steady = await load({
      url: `${api.url}/v1/jobs`,
      method: 'POST',
      headers: { authorization: client.headers.authorization },
      body: DELAYED_NOOP,
      connections: 10,
      overallRate: steadyRate,
      seconds: s.sseSeconds,
    });
    const [metrics, machine1, api1, t1] = [await scrape(), await machineCpu(), await cpuMs(api.child.pid), nowMs()];
    const delayMs = (stat: string) =>
      1000 * Number(new RegExp(`^spool_nodejs_eventloop_lag_${stat}_seconds(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1]);
    const ticks = machine1.total - machine0.total;
    const probeLoad: ProbeLoad = {
      machineBusy: (machine1.busy - machine0.busy) / ticks,
      machineSteal: (machine1.steal - machine0.steal) / ticks,
      apiCpu: (api1 - api0) / (t1 - t0),
      apiLoopDelayP99Ms: delayMs('p99'),
      apiLoopDelayMaxMs: delayMs('max'),
    };
    pinging = false;
    await pinger;
    prober.send({ type: 'report' });
    const report = await prober.next('report', 60_000);
    await Promise.all(probes.map((id) => client.cancel(id)));
    return {
      submit,
      steadyRate,
      steadyRps: steady.rps,
      hopMs: report.hopMs,
      pubsubMs: report.pubsubMs,
      events: report.events,
      probeLoad,
    };
  };

  const without = await round('without subscribers');

  ctx.log(`opening ${s.sseSubscribers} idle SSE subscribers`);
  const targets = await client.submitMany(DELAYED_NOOP, s.sseSubscribers);
  const holderReport = async () => {
    holder.send({ type: 'report' });
    return holder.next('report', 60_000);
  };
  await sleep(1_000);
  const apiBefore = await rssBytes(api.child.pid);
  const holderBefore = (await holderReport()).rss as number;
  holder.send({ type: 'open', ids: targets, parallel: 100 });
  const opened = await holder.next<{ open: number; failed: number; firstError?: string; ms: number }>('opened', 600_000);
  if (opened.failed > 0) ctx.log(`  ${opened.failed} streams failed to open (first: ${opened.firstError})`);
  await sleep(2_000);
  const apiAfter = await rssBytes(api.child.pid);
  const holderAfter = (await holderReport()).rss as number;

  const withSubs = await round(`with ${opened.open} subscribers`, without.steadyRate);
  const after = await holderReport();

  for (const c of [holder, prober]) c.send({ type: 'close' });
  await Promise.all([holder, prober].map((c) => c.next('closed', 60_000).catch(() => {})));
  await Promise.all([holder.stop(), prober.stop()]);
  return {
    subscribers: s.sseSubscribers,
    opened: opened.open,
    failed: opened.failed,
    openSeconds: opened.ms / 1000,
    apiBytesPerConnection: (apiAfter - apiBefore) / Math.max(1, opened.open),
    holderBytesPerConnection: (holderAfter - holderBefore) / Math.max(1, opened.open),
    stillOpenAfterLoad: after.idleOpen,
    without,
    with: withSubs,
  };
}
