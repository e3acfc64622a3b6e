import { DelayedError, type Job } from 'bullmq';

/**
 * Back to BullMQ's delayed set for `ms`, without counting an attempt: for a job that cannot go
 * now (its tenant's cap, an outage, a stale run of it still here), not one that failed. Call it
 * from a processor and let its DelayedError out.
 */
export async function stepAside(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  throw new DelayedError();
}
