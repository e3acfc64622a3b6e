/** The job object of the HTTP API (SPEC.md), from a jobs row. */
import type { JobRecord, JobStatus, StepRecord } from '../store/jobs.ts';

export interface Job {
  id: string;
  type: string;
  status: JobStatus;
  input: unknown;
  result: unknown;
  error: { code: string; message: string; retryable: boolean } | null;
  progress: { pct: number; message: string | null };
  steps: { name: string; status: StepRecord['status']; runs: number; startedAt: string; finishedAt: string | null }[];
  attempts: number;
  priority: number | null;
  metadata: Record<string, unknown>;
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
  webhook: { url: string } | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

// jsonb turns timestamps into PostgreSQL's text form; clients get ISO 8601 everywhere.
const iso = (v: string | Date | null | undefined) => (v ? new Date(v).toISOString() : null);

export function toJob(r: JobRecord): Job {
  return {
    id: r.id,
    type: r.type,
    status: r.status,
    input: r.input,
    result: r.result ?? null,
    error: r.error ?? null,
    progress: { pct: r.progress?.pct ?? (r.status === 'completed' ? 100 : 0), message: r.progress?.message ?? null },
    steps: (r.steps ?? []).map((s) => ({
      name: s.name,
      status: s.status,
      runs: s.runs,
      startedAt: iso(s.startedAt)!,
      finishedAt: iso(s.finishedAt),
    })),
    attempts: r.attempts,
    priority: r.priority,
    metadata: r.metadata ?? {},
    usage: r.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    webhook: r.webhook_url ? { url: r.webhook_url } : null,
    cancelRequested: r.cancel_requested_at !== null && r.status === 'running',
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
  };
}
