/** The job object of the HTTP API (SPEC.md), from a jobs row. */
import type { JobRecord, JobStatus, StepRecord } from '../store/jobs.ts';
import { isoTime } from '../time.ts';

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
      startedAt: isoTime(s.startedAt)!,
      finishedAt: isoTime(s.finishedAt),
    })),
    attempts: r.attempts,
    priority: r.priority,
    metadata: r.metadata ?? {},
    usage: r.usage ?? { inputTokens: 0, outputTokens: 0, costUsd: 0 },
    webhook: r.webhook_url ? { url: r.webhook_url } : null,
    cancelRequested: r.cancel_requested_at !== null && r.status === 'running',
    createdAt: isoTime(r.created_at)!,
    startedAt: isoTime(r.started_at),
    finishedAt: isoTime(r.finished_at),
  };
}
