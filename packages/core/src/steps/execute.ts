/**
 * One attempt of a job, from claim to the fenced closing write. Knows nothing of BullMQ:
 * it returns what happened, and the worker's processor tells BullMQ.
 */
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import { SpoolError, toSpoolError } from '../errors.ts';
import type { JobEvent } from '../events/types.ts';
import type { EventWriter } from '../events/writer.ts';
import type { Logger } from '../logger.ts';
import { activeJobs, jobDuration, jobExecutions, jobsFinished, queueWait } from '../metrics.ts';
import type { AnyJobDefinition } from '../queue/define-job.ts';
import { claimJob, endAttempt } from '../store/lease.ts';
import { within } from '../time.ts';
import { StepCheckpoints } from './checkpoints.ts';
import { type AttemptState, canceledError, createContext, interruptedError, type ModelLayer } from './context.ts';
import { storableOutput } from './output.ts';

export interface ExecuteDeps {
  db: Database;
  events: EventWriter;
  log: Logger;
  /** Running attempts by job id, so a cancel message can reach them. */
  running: Map<string, AbortController>;
  /** Enqueues the webhook deliveries a closing write recorded (the reconciler catches up if this fails). */
  onDeliveries?: (ids: string[]) => Promise<void>;
  /** The model layer behind `ctx.models` (worker processes). */
  models?: ModelLayer | undefined;
  /** Aborted when the worker's shutdown grace period is over: an attempt that begins later is interrupted at once. */
  shutdown?: AbortSignal | undefined;
}

export type AttemptOutcome =
  | { kind: 'skipped' } // not runnable any more (canceled or finished meanwhile)
  | { kind: 'completed'; result: unknown }
  | { kind: 'canceled' }
  | { kind: 'retry'; error: SpoolError } // failed; another attempt follows
  | { kind: 'failed'; error: SpoolError } // failed for good
  | { kind: 'lease_lost' } // another worker took over: this one's result was dropped
  | { kind: 'interrupted' }; // the worker shut down: the job is queued again, no attempt spent

export interface AttemptInput {
  jobId: string;
  def: AnyJobDefinition;
  /** Whether a failure now would be the last attempt BullMQ makes. */
  isLastAttempt: boolean;
  /** BullMQ's `attemptsMade` of the job as handed out (see claimJob). */
  attemptsMade: number;
}

export async function executeAttempt(
  deps: ExecuteDeps,
  { jobId, def, isLastAttempt, attemptsMade }: AttemptInput,
): Promise<AttemptOutcome> {
  const { db, events, log } = deps;
  // Fence out any earlier attempt still running somewhere, and number above what it published.
  // Without its fence an attempt could not be fenced out in turn: Redis unreachable here is
  // an outage like PostgreSQL's (the worker steps aside, see run-job.ts).
  const begun = await events.buffer.begin(jobId);
  const claim = await claimJob(db, { jobId, seqFloor: begun.lastSeq, attemptsMade });
  if (!claim) return { kind: 'skipped' };
  const recovered =
    claim.stored_seq < begun.lastSeq ? recoverLostEvents(deps, jobId, claim.stored_seq, begun) : Promise.resolve();

  const state: AttemptState = {
    jobId,
    tenantId: claim.tenant_id,
    type: def.name,
    attempt: claim.attempts,
    seq: claim.last_seq,
    fence: begun.fence,
    appended: Promise.resolve(),
    closed: false,
    doneSteps: new Map(claim.done_steps.map((s) => [s.name, s.output])),
    controller: new AbortController(),
    checkpoints: new StepCheckpoints(db, jobId, claim.attempts, log),
  };
  const running: JobEvent = { seq: claim.last_seq, type: 'status', data: { status: 'running', attempt: claim.attempts } };
  void events.buffer.publish(jobId, running).catch(() => {});
  if (claim.runnable_at !== null)
    queueWait.observe({ type: def.name }, Math.max(0, Date.now() - new Date(claim.runnable_at).getTime()) / 1000);

  const end = async (status: 'completed' | 'failed' | 'canceled' | 'queued', body: { result?: unknown; error?: SpoolError }) => {
    state.closed = true;
    const closing: JobEvent =
      status === 'completed'
        ? { seq: ++state.seq, type: 'completed', data: { result: body.result } }
        : status === 'failed'
          ? { seq: ++state.seq, type: 'failed', data: { error: body.error!.toJobError() } }
          : status === 'canceled'
            ? { seq: ++state.seq, type: 'canceled', data: {} }
            : {
                seq: ++state.seq,
                type: 'status',
                data: { status: 'queued', attempt: state.attempt, error: body.error!.toJobError() },
              };
    const interrupted = body.error?.code === 'interrupted';
    await state.checkpoints.flush();
    await state.appended;
    await recovered;
    const pending = await events.take(jobId, state.fence);
    // Events the closing write took but did not commit (refused, or PostgreSQL unreachable) were
    // published before any later attempt began: they still belong in the job's history.
    const { ok, deliveries } = await endAttempt(db, {
      jobId,
      attempt: state.attempt,
      attemptsMade,
      status,
      result: body.result,
      error: body.error?.toJobError() ?? null,
      events: [...pending.map((p) => p.event), closing],
    }).catch((err: unknown) => {
      events.giveBack(pending);
      throw err;
    });
    if (!ok) events.giveBack(pending);
    if (ok) {
      void events.buffer.publish(jobId, closing).catch(() => {});
      if (deliveries.length > 0)
        void deps.onDeliveries?.(deliveries).catch((err) => log.warn({ err, jobId }, 'webhook enqueue failed'));
      if (status !== 'queued') jobsFinished.inc({ type: def.name, status });
      log.info(
        { jobId, type: def.name, attempt: state.attempt, status },
        interrupted
          ? 'attempt interrupted; job queued again'
          : status === 'queued'
            ? 'attempt failed; retry scheduled'
            : `job ${status}`,
      );
    }
    return ok;
  };

  if (claim.cancel_requested_at) {
    return (await end('canceled', {})) ? { kind: 'canceled' } : { kind: 'lease_lost' };
  }

  const ctx = createContext(state, deps);
  deps.running.set(jobId, state.controller);
  // Begun after the grace period ended (interruptRunning has already run): interrupted at once.
  if (deps.shutdown?.aborted) state.controller.abort(interruptedError());
  activeJobs.inc({ type: def.name });
  const startedAt = performance.now();
  const timeout = setTimeout(
    () => state.controller.abort(new SpoolError('timeout', `the job ran longer than ${def.timeoutMs} ms`, { retryable: true })),
    def.timeoutMs,
  );
  // A handler that ignores ctx.signal must still not outlive a cancel or a timeout.
  const aborted = new Promise<never>((_, reject) => {
    state.controller.signal.addEventListener('abort', () => reject(state.controller.signal.reason), { once: true });
  });
  aborted.catch(() => {});

  let handling: Promise<unknown> | undefined;
  try {
    const input = parseOrThrow(def.input, claim.input, 'invalid_input');
    handling = Promise.resolve(def.handle(input, ctx));
    const raw = await Promise.race([handling, aborted]);
    const result = storableOutput(parseOrThrow(def.output, raw, 'invalid_output'), "the job's result");
    jobExecutions.inc({ type: def.name, outcome: 'completed' });
    return (await end('completed', { result })) ? { kind: 'completed', result } : { kind: 'lease_lost' };
  } catch (thrown) {
    // The closing write itself failed (PostgreSQL unreachable): the handler's outcome stands
    // and is written by a later take of the job, not turned into a failure of this attempt.
    if (state.closed) throw thrown;
    // A cancel or a timeout ends the attempt without waiting for the handler, but one that
    // honours ctx.signal settles a moment later, its step marked failed: give it that moment,
    // so the step's event comes before the terminal one (events after it are dropped).
    if (state.controller.signal.aborted && handling) await within(ABORT_GRACE_MS, handling).catch(() => {});
    const error = toSpoolError(thrown);
    if (error.code === 'lease_lost') return { kind: 'lease_lost' };
    if (state.controller.signal.reason?.code === 'interrupted') {
      // Written like a retry (status queued, the reason on the event), but BullMQ is not told
      // of a failure: the worker puts the job back without spending an attempt (run-job.ts).
      jobExecutions.inc({ type: def.name, outcome: 'interrupted' });
      return (await end('queued', { error })) ? { kind: 'interrupted' } : { kind: 'lease_lost' };
    }
    if (error.code === 'canceled' || (error.code === 'aborted' && state.controller.signal.reason?.code === 'canceled')) {
      jobExecutions.inc({ type: def.name, outcome: 'canceled' });
      return (await end('canceled', {})) ? { kind: 'canceled' } : { kind: 'lease_lost' };
    }
    const final = !error.retryable || isLastAttempt;
    jobExecutions.inc({ type: def.name, outcome: final ? 'failed' : 'retry' });
    // The thrown error's own message: the job's may be shortened for its tenant (toSpoolError).
    const err = thrown instanceof Error ? thrown.message : String(thrown);
    log.warn({ jobId, type: def.name, attempt: state.attempt, code: error.code, final, err }, 'attempt failed');
    if (final) return (await end('failed', { error })) ? { kind: 'failed', error } : { kind: 'lease_lost' };
    return (await end('queued', { error })) ? { kind: 'retry', error } : { kind: 'lease_lost' };
  } finally {
    clearTimeout(timeout);
    // Only this attempt's: a newer attempt of the job in this process keeps its own.
    if (deps.running.get(jobId) === state.controller) deps.running.delete(jobId);
    activeJobs.dec({ type: def.name });
    jobDuration.observe({ type: def.name }, (performance.now() - startedAt) / 1000);
  }
}

const ABORT_GRACE_MS = 1_000;

/**
 * An earlier attempt died (a killed worker) after publishing events that its batch never wrote:
 * they are only in the Redis buffer, which expires. Queues them under this attempt's fence, so
 * they are written with its next batch or at the latest with its closing write, and the job's
 * stored history has no gap. A stale attempt still alive may write them too: the insert skips
 * a seq already stored.
 */
function recoverLostEvents(
  deps: ExecuteDeps,
  jobId: string,
  storedSeq: number,
  begun: { fence: number; lastSeq: number },
): Promise<void> {
  return deps.events.buffer
    .after(jobId, storedSeq)
    .then((lost) =>
      deps.events.giveBack(
        lost.filter((e) => e.seq <= begun.lastSeq).map((event) => ({ jobId, event })),
        begun.fence,
      ),
    )
    .catch((err) => deps.log.warn({ err, jobId }, 'could not recover events of an earlier attempt from Redis'));
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, code: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new SpoolError(code, z.prettifyError(parsed.error), { retryable: false, details: parsed.error.issues });
}

/**
 * Interrupts every running attempt of this process: the worker's grace period is over. (A
 * listener per attempt on one shutdown signal would pass Node's limit of 10 and warn.)
 */
export function interruptRunning(running: Map<string, AbortController>): number {
  for (const controller of running.values()) controller.abort(interruptedError());
  return running.size;
}

/** Aborts a running attempt of this process, if there is one. */
export function cancelRunning(running: Map<string, AbortController>, jobId: string): boolean {
  const controller = running.get(jobId);
  if (!controller) return false;
  controller.abort(canceledError());
  return true;
}
