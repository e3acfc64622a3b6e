/**
 * The goals of issue 3 checked against one run's numbers, and the files a run writes:
 * JSON (everything), a Markdown table, and an SVG bar chart of the ratios.
 */
import type { BaselineResults, DrainResult } from '../scenarios/baselines.ts';
import type { CostResults } from '../scenarios/cost.ts';
import type { DocumentResults } from '../scenarios/documents.ts';
import type { HttpResults } from '../scenarios/http.ts';
import type { SpoolResults } from '../scenarios/spool.ts';
import type { ProbeLoad, SseResults, SseRound } from '../scenarios/sse.ts';
import type { LoadResult } from './autocannon.ts';
import type { Paired } from './rounds.ts';

export interface GoalRow {
  id: string;
  scenario: string;
  unit: string;
  spool: number;
  baseline: number | null;
  baselineLabel: string;
  /** spool ÷ baseline, when a ratio means something. */
  ratio: number | null;
  goal: string;
  pass: boolean | null;
  /** For the chart: a ratio goal and which side of it passes. */
  chart?: { target: number; higherIsBetter: boolean };
  /**
   * Baseline CPU per operation ÷ Spool CPU per operation (server processes only): what the
   * throughput ratio would be if both were CPU-bound on an otherwise idle machine.
   */
  cpuRatio?: number | null;
  /** Each interleaved round's ratio (HTTP goals, scenarios/http.ts). */
  rounds?: number[];
}

export interface RunResults {
  meta: Record<string, unknown>;
  baselines: BaselineResults;
  http: HttpResults;
  drain: Paired<DrainResult>;
  spool: SpoolResults;
  sse: SseResults;
  cost: CostResults;
  documents: DocumentResults;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

export function goals(r: RunResults): GoalRow[] {
  const { baselines: b, http: h, drain: d, spool: s, sse, cost } = r;
  const rows: GoalRow[] = [];
  const higher = (
    id: string,
    scenario: string,
    unit: string,
    spool: number,
    baseline: number,
    baselineLabel: string,
    target: number,
  ): GoalRow => {
    const q = ratio(spool, baseline);
    return {
      id,
      scenario,
      unit,
      spool,
      baseline,
      baselineLabel,
      ratio: q,
      goal: `≥ ${target.toFixed(2)}×`,
      pass: q !== null && q >= target,
      chart: { target, higherIsBetter: true },
    };
  };
  const cpu = (baseline: number | undefined, spool: number | undefined) => (baseline && spool ? baseline / spool : null);
  /** A req/s goal measured in interleaved rounds: the pooled ratio, the CPU ratio, each round's. */
  const rounds = (id: string, scenario: string, p: Paired<LoadResult>, baselineLabel: string, target: number): GoalRow => ({
    ...higher(id, scenario, 'req/s', p.spool.rps, p.baseline.rps, baselineLabel, target),
    cpuRatio: cpu(p.baseline.serverCpuMsPerRequest, p.spool.serverCpuMsPerRequest),
    rounds: p.ratios,
  });
  rows.push(rounds('submit', 'HTTP submit `POST /v1/jobs`', h.submit, 'minimal front door (node:http + 1 BullMQ add)', 0.5));
  rows.push({
    ...higher(
      'batch',
      'Batch submit, 100 jobs/request',
      'jobs/s',
      h.batch.spool.jobsPerSec,
      h.batch.baseline.jobsPerSec,
      'raw `addBulk` of 100',
      0.6,
    ),
    rounds: h.batch.ratios,
  });
  rows.push({
    ...higher(
      'drain',
      'Drain no-op jobs to `completed` in PostgreSQL',
      'jobs/s',
      d.spool.jobsPerSec,
      d.baseline.jobsPerSec,
      'raw BullMQ worker, concurrency 50',
      0.5,
    ),
    cpuRatio: cpu(d.baseline.workerCpuMsPerJob, d.spool.workerCpuMsPerJob),
    rounds: d.ratios,
  });
  rows.push({
    id: 'pickup-p50',
    scenario: 'Pickup latency p50 (202 → handler start)',
    unit: 'ms',
    spool: s.pickupMs.p50,
    baseline: b.pickupMs.p50,
    baselineLabel: 'raw BullMQ add → process',
    ratio: ratio(s.pickupMs.p50, b.pickupMs.p50),
    goal: '≤ raw + 3 ms',
    pass: s.pickupMs.p50 - b.pickupMs.p50 <= 3,
  });
  rows.push({
    id: 'pickup-p99',
    scenario: 'Pickup latency p99',
    unit: 'ms',
    spool: s.pickupMs.p99,
    baseline: b.pickupMs.p99,
    baselineLabel: 'raw BullMQ add → process',
    ratio: ratio(s.pickupMs.p99, b.pickupMs.p99),
    goal: '≤ 2.00×',
    pass: s.pickupMs.p99 <= 2 * b.pickupMs.p99,
    chart: { target: 2, higherIsBetter: false },
  });
  rows.push({
    id: 'pg-statements',
    scenario: 'PostgreSQL statements per no-op job',
    unit: 'statements',
    spool: cost.statementsPerJob.total,
    baseline: null,
    baselineLabel: 'raw BullMQ: none',
    ratio: null,
    goal: '≤ 3',
    pass: cost.statementsPerJob.total <= 3,
  });
  rows.push({
    id: 'pg-progress',
    scenario: 'PostgreSQL statements per progress event',
    unit: 'statements',
    spool: cost.steps.eventStatementsPerProgressEvent,
    baseline: null,
    baselineLabel: 'batched event writes ÷ progress events',
    ratio: null,
    goal: 'none per event (batched: < 0.1)',
    pass: cost.steps.eventStatementsPerProgressEvent < 0.1,
  });
  rows.push({
    id: 'redis-commands',
    scenario: 'Redis commands per no-op job',
    unit: 'commands',
    spool: cost.redisCommandsPerJob.perJob,
    baseline: b.redisCommandsPerJob.perJob,
    baselineLabel: 'raw BullMQ (front door add + worker)',
    ratio: ratio(cost.redisCommandsPerJob.perJob, b.redisCommandsPerJob.perJob),
    goal: '≤ 1.25×',
    pass: cost.redisCommandsPerJob.perJob <= 1.25 * b.redisCommandsPerJob.perJob,
    chart: { target: 1.25, higherIsBetter: false },
  });
  rows.push(
    higher(
      'sse-submit',
      `Submit with ${sse.opened.toLocaleString('en-US')} SSE subscribers open`,
      'req/s',
      sse.with.submit.rps,
      sse.without.submit.rps,
      'same, no subscribers',
      0.7,
    ),
  );
  const eventP99 = sse.with.pubsubMs.p99 + sse.with.hopMs.p99;
  rows.push({
    id: 'sse-latency',
    scenario: `SSE event latency p99, ${sse.opened.toLocaleString('en-US')} subscribers open, ${sse.with.steadyRate} submits/s`,
    unit: 'ms',
    spool: eventP99,
    baseline: sse.with.pubsubMs.p99,
    baselineLabel: 'raw Redis pub/sub p99, same moment',
    ratio: null,
    goal: '≤ pub/sub + 20 ms',
    pass: sse.with.hopMs.p99 <= 20,
  });
  rows.push({
    id: 'sse-memory',
    scenario: 'API memory per SSE connection',
    unit: 'KiB',
    spool: sse.apiBytesPerConnection / 1024,
    baseline: null,
    baselineLabel: '',
    ratio: null,
    goal: '(reported)',
    pass: null,
  });
  rows.push({
    id: 'step',
    scenario: 'Step checkpoint, median per step (100-step job)',
    unit: 'ms',
    spool: s.steps.medianGapMs,
    baseline: null,
    baselineLabel: `job duration ÷ 100: ${fmt(s.steps.perStepMs)} ms`,
    ratio: null,
    goal: '≤ 1 ms',
    pass: s.steps.medianGapMs <= 1,
  });
  rows.push(rounds('healthz', '`GET /healthz`', h.healthz, 'raw node:http hello-world', 0.8));
  return rows;
}

const pct = (share: number) => `${Math.round(share * 100)} %`;
const times = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** "x / y": one measure of the load during the SSE probe, without and with subscribers. */
function probeLoad(without: SseRound, withSubs: SseRound, show: (l: ProbeLoad) => string): string {
  return `${show(without.probeLoad)} / ${show(withSubs.probeLoad)}`;
}

export function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

const verdict = (p: boolean | null) => (p === null ? '—' : p ? '✅ pass' : '❌ miss');

export function markdown(r: RunResults, rows: GoalRow[], chartFile: string): string {
  const m = r.meta as any;
  const b = r.baselines;
  const h = r.http;
  const lines = [
    `# Spool benchmark — ${m.date}${m.quick ? ' (quick)' : ''}${m.label ? ` — ${m.label}` : ''}`,
    '',
    `${m.cpu} · ${m.cores} cores · Node ${m.node} · Redis ${m.redis} (private, no persistence) · ${m.postgres} · commit ${m.commit}${m.dirty ? ' (uncommitted changes)' : ''} · load average at start ${m.loadStart}`,
    '',
    'Ratios are Spool ÷ its baseline measured in this run. HTTP load: autocannon in its own process, ' +
      `${m.settings.connections} connections (batches: ${m.settings.batchConnections}), ${m.settings.httpSeconds} s after ${m.settings.warmupSeconds} s of warm-up` +
      (h.rounds > 1
        ? `; the three HTTP goals (${h.rounds} rounds of ${m.settings.httpSeconds} s per side) and the drain (${h.rounds} drains per side) run interleaved with their baselines (B S, S B, …), each round's ratio shown under the pooled one.`
        : '.'),
    '',
    '| Scenario | Spool | Baseline | Ratio | Goal | Result | CPU ratio |',
    '| --- | ---: | ---: | ---: | --- | --- | ---: |',
  ];
  for (const g of rows) {
    const base = g.baseline === null ? g.baselineLabel || '—' : `${fmt(g.baseline)} ${g.unit}<br><sub>${g.baselineLabel}</sub>`;
    const cpuRatio = g.cpuRatio ? `${fmt(g.cpuRatio)}×` : '';
    const rounds = g.rounds && g.rounds.length > 1 ? `<br><sub>${g.rounds.map((q) => fmt(q)).join(' · ')}</sub>` : '';
    lines.push(
      `| ${g.scenario} | ${fmt(g.spool)} ${g.unit} | ${base} | ${g.ratio === null ? '—' : `${fmt(g.ratio)}×`}${rounds} | ${g.goal} | ${verdict(g.pass)} | ${cpuRatio} |`,
    );
  }
  const passed = rows.filter((g) => g.pass === true).length;
  const judged = rows.filter((g) => g.pass !== null).length;
  lines.push(
    '',
    `**${passed} of ${judged} goals met.** CPU ratio: the baseline server's CPU time per operation ÷ Spool's (API or worker process only), ` +
      'what the throughput ratio would be if both were CPU-bound on an idle machine; it moves much less than throughput when other work shares the cores.',
    '',
    `![ratios](${chartFile})`,
    '',
  );
  lines.push(
    '## Raw engines (context)',
    '',
    '| Engine | Value |',
    '| --- | ---: |',
    `| redis-benchmark SET, no pipeline, 50 clients | ${fmt(b.redisSet.noPipeline)} ops/s |`,
    `| redis-benchmark SET, -P 16, 50 clients | ${fmt(b.redisSet.pipeline16)} ops/s |`,
    `| raw node:http hello-world | ${fmt(h.healthz.baseline.rps)} req/s (p99 ${fmt(h.healthz.baseline.latencyMs.p99)} ms) |`,
    `| minimal front door | ${fmt(h.submit.baseline.rps)} req/s (p99 ${fmt(h.submit.baseline.latencyMs.p99)} ms) |`,
    `| raw addBulk of 100, ${m.settings.batchConnections} in flight | ${fmt(h.batch.baseline.jobsPerSec)} jobs/s |`,
    `| raw worker, concurrency 50 | ${fmt(r.drain.baseline.jobsPerSec)} jobs/s |`,
    `| raw add → process | p50 ${fmt(b.pickupMs.p50)} ms, p99 ${fmt(b.pickupMs.p99)} ms |`,
    `| naive durable front door (+ one INSERT per job) | ${fmt(b.durable.frontDoor.rps)} req/s (p99 ${fmt(b.durable.frontDoor.latencyMs.p99)} ms) |`,
    `| naive durable worker (+ one UPDATE per job), concurrency 50 | ${fmt(b.durable.drain.jobsPerSec)} jobs/s |`,
    '',
    'The naive durable pair writes a PostgreSQL row per job the obvious way (one autocommitted ' +
      'statement per job, no batching): what durability alone costs without design. Against it, ' +
      `Spool's submit is ${times(h.submit.spool.rps, b.durable.frontDoor.rps)} and its drain ${times(r.drain.spool.jobsPerSec, b.durable.drain.jobsPerSec)}, ` +
      'with fenced claims, events, auth and validation on top. The goals stay against raw BullMQ.',
    '',
  );
  const s = r.spool;
  const sse = r.sse;
  const c = r.cost;
  lines.push(
    '## Spool details',
    '',
    `- HTTP submit: ${fmt(h.submit.spool.rps)} req/s, latency p50 ${fmt(h.submit.spool.latencyMs.p50)} ms / p99 ${fmt(h.submit.spool.latencyMs.p99)} ms` +
      ` (front door: p50 ${fmt(h.submit.baseline.latencyMs.p50)} / p99 ${fmt(h.submit.baseline.latencyMs.p99)} ms); non-2xx ${h.submit.spool.non2xx}, errors ${h.submit.spool.errors}.`,
    `- Batch submit: ${fmt(h.batch.spool.rps)} requests/s of 100 jobs, p99 ${fmt(h.batch.spool.latencyMs.p99)} ms.`,
    `- Server CPU per operation: POST /v1/jobs ${fmt(h.submit.spool.serverCpuMsPerRequest)} ms (front door ${fmt(h.submit.baseline.serverCpuMsPerRequest)} ms); ` +
      `batch ${fmt((h.batch.spool.serverCpuMsPerRequest ?? Number.NaN) / 100)} ms per job; /healthz ${fmt(h.healthz.spool.serverCpuMsPerRequest)} ms (hello-world ${fmt(h.healthz.baseline.serverCpuMsPerRequest)} ms); ` +
      `worker ${fmt(r.drain.spool.workerCpuMsPerJob)} ms per drained job (raw worker ${fmt(r.drain.baseline.workerCpuMsPerJob)} ms).`,
    `- Pickup: p50 ${fmt(s.pickupMs.p50)} ms, p99 ${fmt(s.pickupMs.p99)} ms over ${s.pickupMs.n} jobs (created_at → started_at: p50 ${fmt(s.createdToStartMs.p50)} ms, p99 ${fmt(s.createdToStartMs.p99)} ms).`,
    `- Steps: median gap between step starts ${fmt(s.steps.medianGapMs)} ms (p99 ${fmt(s.steps.p99GapMs)} ms); job duration ÷ 100 = ${fmt(s.steps.perStepMs)} ms (median of ${s.steps.jobs} jobs).`,
    `- SSE: ${sse.opened} of ${sse.subscribers} subscribers opened in ${fmt(sse.openSeconds)} s (${sse.failed} failed), ${sse.stillOpenAfterLoad} still open after the load; ` +
      `API memory ${fmt(sse.apiBytesPerConnection / 1024)} KiB per stream (holder process: ${fmt(sse.holderBytesPerConnection / 1024)} KiB).`,
    `- SSE submit (saturating, jobs delayed an hour): ${fmt(sse.without.submit.rps)} req/s without subscribers, ${fmt(sse.with.submit.rps)} req/s with.`,
    `- SSE event hop over raw pub/sub, probe jobs while submitting ${sse.without.steadyRate}/s: without subscribers p50 ${fmt(sse.without.hopMs.p50)} / p99 ${fmt(sse.without.hopMs.p99)} ms (${sse.without.events.paired} events); ` +
      `with p50 ${fmt(sse.with.hopMs.p50)} / p99 ${fmt(sse.with.hopMs.p99)} ms (${sse.with.events.paired} events). Raw pub/sub p99: ${fmt(sse.without.pubsubMs.p99)} ms without, ${fmt(sse.with.pubsubMs.p99)} ms with.`,
    `- Meanwhile (without / with subscribers): both cores ${probeLoad(sse.without, sse.with, (l) => pct(l.machineBusy))} busy ` +
      `(${probeLoad(sse.without, sse.with, (l) => pct(l.machineSteal))} stolen by the hypervisor); the API used ${probeLoad(sse.without, sse.with, (l) => pct(l.apiCpu))} of a core, ` +
      `and its 10 ms event-loop timer fired after p99 ${probeLoad(sse.without, sse.with, (l) => fmt(l.apiLoopDelayP99Ms))} ms, at most ${probeLoad(sse.without, sse.with, (l) => fmt(l.apiLoopDelayMaxMs))} ms. ` +
      'A late timer in an API that is mostly idle was waiting for a core.',
    `- PostgreSQL statements per no-op job: ${fmt(c.statementsPerJob.total)} (API ${fmt(c.statementsPerJob.api)}, worker ${fmt(c.statementsPerJob.worker)}), over ${c.jobs} jobs.`,
    `- Jobs of ${c.steps.stepsPerJob} steps: ${fmt(c.steps.statementsPerStep)} statements per step beyond a no-op job; event batches: ${fmt(c.steps.eventStatementsPerProgressEvent)} statements per progress event.`,
    '',
    'Statements per no-op job, by kind:',
    '',
    '| per job | statement (first words) |',
    '| ---: | --- |',
    ...Object.entries(c.statementsPerJob.byKind).map(([k, v]) => `| ${fmt(v)} | \`${k.replace(/\|/g, '\\|')}\` |`),
    '',
    "Redis commands per no-op job (Lua scripts' inner commands included), Spool vs raw BullMQ:",
    '',
    '| command | Spool | raw |',
    '| --- | ---: | ---: |',
    ...commandRows(c.redisCommandsPerJob.byCommand, b.redisCommandsPerJob.byCommand),
    `| **total** | **${fmt(c.redisCommandsPerJob.perJob)}** | **${fmt(b.redisCommandsPerJob.perJob)}** |`,
    '',
    ...documentLines(r.documents),
  );
  return lines.join('\n');
}

function documentLines(d: DocumentResults): string[] {
  const i = d.ingest;
  return [
    `## Documents (embedded PGlite with pgvector ${d.pgvector}, local embedder)`,
    '',
    `- Ingest: ${fmt(i.chunksPerSec)} chunks/s — ${i.chunks.toLocaleString('en-US')} chunks of ${i.documents} Markdown documents in ${i.jobs} \`ingest\` jobs, ` +
      `${fmt(i.seconds)} s from the first job's start to the last one's end (chunking, embedding, upserts into the HNSW-indexed table, step checkpoints).`,
    '',
    '`rag-query` retrieval, one query at a time (top 5, tenant, collection, model and access filters), against a bare pgvector top-5 on the same data:',
    '',
    '| chunks | vector search p50 / p95 | `retrieve` step p50 / p95 | raw pgvector p50 / p95 | search ÷ raw (p50) | recall@5: Spool / raw index | raw index, wider search: p50 / p95, recall@5 |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...d.retrieval.map(
      (r) =>
        `| ${r.chunks.toLocaleString('en-US')} | ${fmt(r.searchMs.p50)} / ${fmt(r.searchMs.p95)} ms | ${fmt(r.stepMs.p50)} / ${fmt(r.stepMs.p95)} ms | ` +
        `${fmt(r.rawMs.p50)} / ${fmt(r.rawMs.p95)} ms | ${fmt(r.searchMs.p50 / r.rawMs.p50)}× | ${fmt(r.recall)} / ${fmt(r.rawRecall)} (${r.searchMs.n} queries) | ` +
        `\`ef_search\` ${r.rawWide.efSearch}: ${fmt(r.rawWide.ms.p50)} / ${fmt(r.rawWide.ms.p95)} ms, ${fmt(r.rawWide.recall)} |`,
    ),
    '',
    'Recall@5 is measured against an exact scan of the same data (index scans off): HNSW (pgvector defaults, `ef_search` 40) is approximate; ' +
      'the last column is the raw index query with a wider search, what `SPOOL_VECTOR_EF_SEARCH` trades search time for. ' +
      "The vector search is timed inside the job (`searchMs` on the trace); the step adds the question's embedding and the trace write " +
      '(whole milliseconds: step times are stored at millisecond precision). Corpora beyond the ingested documents are grown by the harness ' +
      `through Spool's store functions with the index rebuilt after the load (${d.retrieval.map((r) => `${fmt(r.loadSeconds)} s`).join(', ')}).`,
    '',
  ];
}

function commandRows(spool: Record<string, number>, raw: Record<string, number>): string[] {
  const names = [...new Set([...Object.keys(spool), ...Object.keys(raw)])];
  names.sort((a, b) => (spool[b] ?? 0) + (raw[b] ?? 0) - (spool[a] ?? 0) - (raw[a] ?? 0));
  return names.map((n) => `| ${n} | ${fmt(spool[n] ?? 0)} | ${fmt(raw[n] ?? 0)} |`);
}

/** A horizontal bar per ratio goal, the goal drawn as a tick; green where it holds. */
export function svgChart(rows: GoalRow[], title: string): string {
  const bars = rows.filter((g) => g.chart && g.ratio !== null);
  const W = 760;
  const left = 300;
  const right = 110;
  const rowH = 34;
  const top = 48;
  const H = top + bars.length * rowH + 40;
  const max = Math.max(1.5, ...bars.map((g) => Math.max(g.ratio!, g.chart!.target))) * 1.05;
  const x = (v: number) => left + (v / max) * (W - left - right);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/`/g, '');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="16" y="40" fill="#666" font-size="11">Spool ÷ baseline, same run. Tick = goal (above it passes for throughput; below it for latency and commands).</text>`,
  ];
  for (const v of [0, 0.5, 1, 1.5, 2, 2.5, 3].filter((v) => v <= max)) {
    parts.push(`<line x1="${x(v)}" y1="${top - 4}" x2="${x(v)}" y2="${top + bars.length * rowH}" stroke="#eee"/>`);
    parts.push(
      `<text x="${x(v)}" y="${top + bars.length * rowH + 16}" fill="#888" font-size="11" text-anchor="middle">${v}×</text>`,
    );
  }
  bars.forEach((g, i) => {
    const y = top + i * rowH;
    const color = g.pass ? '#2e9d57' : '#d2453d';
    parts.push(`<text x="${left - 8}" y="${y + 20}" text-anchor="end">${esc(g.scenario)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 7}" width="${Math.max(1, x(g.ratio!) - left)}" height="18" fill="${color}" rx="2"/>`);
    parts.push(
      `<line x1="${x(g.chart!.target)}" y1="${y + 3}" x2="${x(g.chart!.target)}" y2="${y + 29}" stroke="#222" stroke-width="2"/>`,
    );
    parts.push(
      `<text x="${x(g.ratio!) + 6}" y="${y + 20}" fill="#222">${g.ratio!.toFixed(2)}× <tspan fill="#777" font-size="11">(goal ${g.chart!.higherIsBetter ? '≥' : '≤'} ${g.chart!.target})</tspan></text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
