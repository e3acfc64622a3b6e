/** What every scenario gets: the run's settings, the private Redis, the fresh database. */
import type { BenchDatabase, BenchRedis } from './infra.ts';

export interface BenchSettings {
  quick: boolean;
  /** Measured seconds of each HTTP load run, and the unrecorded warm-up before it. */
  httpSeconds: number;
  warmupSeconds: number;
  /** Interleaved rounds of each throughput goal and its baseline (lib/rounds.ts); HTTP rounds last httpSeconds. */
  rounds: number;
  /** autocannon connections for single-request routes (submit, healthz) and for batches. */
  connections: number;
  batchConnections: number;
  redisBenchRequests: number;
  drainJobs: number;
  /** Jobs per second and seconds of the open-loop pickup probe. */
  pickupRate: number;
  pickupSeconds: number;
  stepJobs: number;
  costJobs: number;
  progressJobs: number;
  sseSubscribers: number;
  sseSeconds: number;
  /** Steps and step duration of the SSE probe jobs (they must outlast the load run). */
  probeJobs: number;
  probeSteps: number;
  probeStepMs: number;
  /** Documents ingested through `ingest` jobs (about five chunks each). */
  ingestDocuments: number;
  /** Corpus sizes in chunks at which `rag-query` retrieval is measured, and queries at each. */
  retrievalSizes: number[];
  retrievalQueries: number;
}

export function settings(quick: boolean): BenchSettings {
  return quick
    ? {
        quick,
        httpSeconds: 3,
        warmupSeconds: 1,
        rounds: 1,
        connections: 50,
        batchConnections: 8,
        redisBenchRequests: 50_000,
        drainJobs: 2_000,
        pickupRate: 40,
        pickupSeconds: 3,
        stepJobs: 3,
        costJobs: 400,
        progressJobs: 20,
        sseSubscribers: 1_000,
        sseSeconds: 3,
        probeJobs: 5,
        probeSteps: 200,
        probeStepMs: 20,
        ingestDocuments: 50,
        retrievalSizes: [1_000],
        retrievalQueries: 30,
      }
    : {
        quick,
        httpSeconds: 10,
        warmupSeconds: 3,
        rounds: 3,
        connections: 50,
        batchConnections: 8,
        redisBenchRequests: 300_000,
        drainJobs: 20_000,
        pickupRate: 50,
        pickupSeconds: 20,
        stepJobs: 10,
        costJobs: 2_000,
        progressJobs: 100,
        sseSubscribers: 10_000,
        sseSeconds: 10,
        probeJobs: 10,
        probeSteps: 700,
        probeStepMs: 20,
        ingestDocuments: 400,
        retrievalSizes: [10_000, 100_000],
        retrievalQueries: 200,
      };
}

export interface Ctx {
  s: BenchSettings;
  redis: BenchRedis;
  database: BenchDatabase;
  log(message: string): void;
}

/** The job every throughput scenario submits: a no-op `debug-steps`. */
export const NOOP_JOB = { type: 'debug-steps', input: { steps: 0 } } as const;
