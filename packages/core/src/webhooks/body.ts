/** The webhook body: `{type, timestamp, data: <job>}`, the same bytes on every attempt. */
import { toJob } from '../jobs/serialize.ts';
import type { JobRecord } from '../store/jobs.ts';

export function webhookBody(eventType: string, snapshot: Record<string, unknown>): string {
  const job = toJob(snapshot as unknown as JobRecord);
  return JSON.stringify({ type: eventType, timestamp: job.finishedAt, data: job });
}
