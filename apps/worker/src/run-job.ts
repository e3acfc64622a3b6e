/**
 * The BullMQ processor of one job type: runs an attempt and tells BullMQ the outcome.
 * BullMQ owns scheduling (attempts, backoff); PostgreSQL owns the truth of status.
 */
import { isUnavailable } from '@spool/core/errors';
import { type AnyJobDefinition, stepAside, type TenantSlots } from '@spool/core/queue';
import { type ExecuteDeps, executeAttempt, leaseLostError } from '@spool/core/steps';
import { type Job, UnrecoverableError } from 'bullmq';

export function createProcessor(deps: ExecuteDeps & { tenantSlots?: TenantSlots | undefined }, def: AnyJobDefinition) {
  // Jobs whose processor call is under way in this process, from start to return.
  const inHand = new Set<string>();
  // How long a tenant slot is held at most: a killed worker's lapses after this.
  const slotHoldMs = def.timeoutMs + 60_000;
  return async (job: Job, token?: string): Promise<void> => {
    if (!job.id) throw new UnrecoverableError('job without id');
    if (inHand.has(job.id)) {
      // BullMQ hands a job out again only once its holder lost it (a stall, a pause or a loss of
      // Redis): the attempt still under way here is stale. BullMQ's lock manager keeps one lock per
      // job id, so the stale call's end would drop this call's lock, and the job would stall again
      // and again until BullMQ failed it. Stop the stale attempt, step aside until it has ended.
      deps.running.get(job.id)?.abort(leaseLostError());
      return stepAside(job, token, 500);
    }
    inHand.add(job.id);
    try {
      const tenantId = job.data?.tenantId as string | undefined;
      if (deps.tenantSlots && tenantId) {
        const place = await deps.tenantSlots.acquireOrQueue(tenantId, job as Job & { id: string }, slotHoldMs);
        if (place !== undefined) {
          // The tenant has its cap of jobs running: wait in its line (not an attempt) and let
          // others run. A release wakes the first in line; this delay is only the safety net for
          // a slot that lapses without one (a killed worker), longer the further back in line.
          return stepAside(job, token, Math.min(60_000, 2_000 + place * 20));
        }
      }
      let taken = false;
      try {
        taken = (await runAttempt(deps, def, job as Job & { id: string }, token)) === 'taken_over';
      } finally {
        // Slots are by job id, so a worker that took the job over runs in this same slot: a
        // stale attempt leaves it to that worker. Freed here, it went to the next job in line,
        // which ran beside the taken-over one, past the tenant's cap.
        if (deps.tenantSlots && tenantId && !taken) {
          await deps.tenantSlots.release(tenantId, job.id, slotHoldMs).catch(() => {});
        }
      }
    } finally {
      inHand.delete(job.id);
    }
  };
}

async function runAttempt(
  deps: ExecuteDeps,
  def: AnyJobDefinition,
  job: Job & { id: string },
  token?: string,
): Promise<'taken_over' | undefined> {
  let outcome: Awaited<ReturnType<typeof executeAttempt>>;
  try {
    outcome = await executeAttempt(deps, {
      jobId: job.id,
      def,
      isLastAttempt: job.attemptsMade + 1 >= (job.opts.attempts ?? 1),
      attemptsMade: job.attemptsMade,
    });
  } catch (err) {
    if (isUnavailable(err)) {
      // PostgreSQL unreachable at the claim or the closing write: not the job's failure, so no
      // attempt is spent (an outage longer than the type's backoff would fail it for good). The
      // row still says queued or running; a later take resumes after its completed steps.
      deps.log.warn({ err: String(err), jobId: job.id, type: def.name }, 'PostgreSQL unreachable; the job will be taken again');
      return stepAside(job, token, 1_000 + Math.floor(Math.random() * 1_000));
    }
    // Anything else: BullMQ retries the job, and the reconciler repairs it if BullMQ gives up first.
    deps.log.warn({ err, jobId: job.id, type: def.name }, 'attempt could not run');
    throw err;
  }
  switch (outcome.kind) {
    case 'retry':
      // BullMQ schedules the next attempt with the type's backoff (see worker.ts).
      throw outcome.error;
    case 'failed':
      throw new UnrecoverableError(`${outcome.error.code}: ${outcome.error.message}`);
    case 'interrupted':
      // Back to the queue for the next worker, without spending one of the job's attempts.
      return stepAside(job, token, 0);
    case 'lease_lost':
      // Another worker took the job over: its result stands.
      return 'taken_over';
    default:
      // completed, canceled or skipped.
      return;
  }
}
