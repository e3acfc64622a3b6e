/**
 * The BullMQ processor of one job type: runs an attempt and tells BullMQ the outcome.
 * BullMQ owns scheduling (attempts, backoff); PostgreSQL owns the truth of status.
 */
import type { AnyJobDefinition, TenantSlots } from '@spool/core/queue';
import { type ExecuteDeps, executeAttempt } from '@spool/core/steps';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';

export function createProcessor(deps: ExecuteDeps & { tenantSlots?: TenantSlots | undefined }, def: AnyJobDefinition) {
  return async (job: Job, token?: string): Promise<void> => {
    if (!job.id) throw new UnrecoverableError('job without id');
    const tenantId = job.data?.tenantId as string | undefined;
    if (deps.tenantSlots && tenantId) {
      if (!(await deps.tenantSlots.acquire(tenantId, job.id, def.timeoutMs + 60_000))) {
        // The tenant has its cap of jobs running: step aside (not an attempt) and let others run.
        await job.moveToDelayed(Date.now() + 200 + Math.floor(Math.random() * 300), token);
        throw new DelayedError();
      }
    }
    try {
      await runAttempt(deps, def, job as Job & { id: string });
    } finally {
      if (deps.tenantSlots && tenantId) await deps.tenantSlots.release(tenantId, job.id).catch(() => {});
    }
  };
}

async function runAttempt(deps: ExecuteDeps, def: AnyJobDefinition, job: Job & { id: string }): Promise<void> {
  const outcome = await executeAttempt(deps, {
    jobId: job.id,
    def,
    isLastAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
    attemptsMade: job.attemptsMade,
  }).catch((err: unknown) => {
    // PostgreSQL unreachable at claim or at the closing write: BullMQ retries the job later,
    // and the reconciler repairs it if BullMQ gives up first.
    deps.log.warn({ err, jobId: job.id, type: def.name }, 'attempt could not run');
    throw err;
  });
  switch (outcome.kind) {
    case 'retry':
      // BullMQ schedules the next attempt with the type's backoff (see worker.ts).
      throw outcome.error;
    case 'failed':
      throw new UnrecoverableError(`${outcome.error.code}: ${outcome.error.message}`);
    default:
      // completed, canceled, skipped, or lease_lost (the new holder's result stands).
      return;
  }
}
