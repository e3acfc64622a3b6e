/**
 * What a handler sees: `ctx.step` memoized in PostgreSQL, progress and token events,
 * cancellation, a logger, and stable idempotency keys for side effects inside steps.
 */
import type { Database } from '../db/client.ts';
import { SpoolError, toSpoolError } from '../errors.ts';
import type { JobEvent } from '../events/types.ts';
import type { EventWriter } from '../events/writer.ts';
import { cleanText, unstorableText } from '../jobs/storable-json.ts';
import type { Logger } from '../logger.ts';
import type { JobScope, ModelClient } from '../providers/models.ts';
import { type Tokens, tokens } from '../providers/tokens.ts';
import type { StepCheckpoints } from './checkpoints.ts';
import { storableOutput } from './output.ts';

export interface JobContext {
  readonly jobId: string;
  readonly tenantId: string;
  readonly type: string;
  /** 1 for the first attempt; a retry or a takeover after a crash counts up. */
  readonly attempt: number;
  /** Aborted on cancel or timeout. Pass it to fetch, SDK calls and sleeps. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Runs `fn` once per job: a completed step returns its stored output without running
   * again, on a retry or after a crash. Names are unique within a job; outputs are JSON.
   */
  step<T>(name: string, fn: (run: StepRun) => Promise<T> | T): Promise<T>;
  /** Reports progress (0–100). Cheap: no database round trip per call. */
  progress(pct: number, message?: string): void;
  /**
   * Streams model tokens to SSE subscribers as `delta` events (with the attempt number).
   * `restart: true` says the text streamed so far is void: the answer starts again.
   */
  emit(delta: { text: string; restart?: boolean }): void;
  /** Governed model calls: caches, fallback chain, breaker, limits, spend caps, a trace row per call. */
  readonly models: ModelClient;
  /** Token counting and chunking (tiktoken). */
  readonly tokens: Tokens;
  /** The database (the document job types read and write the vector tables). */
  readonly db: Database;
  /** A key that is the same for every run of a step of this job: use it for side effects. */
  idempotencyKey(stepName: string): string;
}

export interface StepRun {
  /** How many times this step's body has started, this run included (1 the first time). */
  runs: number;
}

export const canceledError = () => new SpoolError('canceled', 'the job was canceled', { retryable: false });
export const leaseLostError = () => new SpoolError('lease_lost', 'another worker has taken this job over', { retryable: false });
/** The worker shut down before the attempt ended: the job goes back to the queue, no attempt spent. */
export const interruptedError = () =>
  new SpoolError('interrupted', 'the worker shut down before the job finished; it resumes after its last completed step', {
    retryable: true,
  });

export interface AttemptState {
  jobId: string;
  tenantId: string;
  type: string;
  attempt: number;
  /** The last seq this attempt has used. */
  seq: number;
  /** This attempt's event fence (see events/redis-buffer.ts). */
  fence: number;
  /**
   * Settles when every event append so far has settled: the closing write takes what they queued.
   * (Not only the latest: when the events connection drops, an append sent earlier can settle
   * after a later one: its Redis write fails late, and only then is the event queued.)
   */
  appended: Promise<unknown>;
  /**
   * Set when the closing write takes its seq: a handler still winding down after a cancel or a
   * timeout (a step recording its failure) must not add events after the terminal one, nor
   * reuse seqs that the next attempt will number.
   */
  closed: boolean;
  doneSteps: Map<string, unknown>;
  controller: AbortController;
  checkpoints: StepCheckpoints;
}

/** The model layer as the step runner needs it (see providers/models.ts). */
export interface ModelLayer {
  forJob(scope: JobScope): ModelClient;
}

/** Names are keys of the steps table's index, which refuses ~2.7 KB; no real name comes near this. */
const MAX_STEP_NAME = 200;

const noModels: ModelClient = {
  chat: async () => {
    throw new SpoolError('models_unavailable', 'this process runs no model layer', { retryable: false });
  },
  embed: async () => {
    throw new SpoolError('models_unavailable', 'this process runs no model layer', { retryable: false });
  },
};

export function createContext(
  state: AttemptState,
  deps: { db: Database; events: EventWriter; log: Logger; models?: ModelLayer | undefined },
): JobContext {
  const { db, events } = deps;
  const log = deps.log.child({ jobId: state.jobId, type: state.type, attempt: state.attempt });
  const started = new Set<string>();
  const emit = (type: JobEvent['type'], data: Record<string, unknown>) => {
    if (state.closed) return;
    state.seq += 1;
    const appended = events.append(state.jobId, { seq: state.seq, type, data }, state.fence, state.attempt).then((accepted) => {
      // Fenced out: another attempt has begun. Stop this one (its closing write would be refused anyway).
      if (!accepted) state.controller.abort(leaseLostError());
    });
    // A chain, not a list: it holds nothing once settled (a job may emit 100,000 token deltas).
    state.appended = state.appended.then(() => appended);
  };
  const throwIfAborted = () => {
    if (state.controller.signal.aborted) throw state.controller.signal.reason ?? canceledError();
  };

  const ctx: JobContext = {
    jobId: state.jobId,
    tenantId: state.tenantId,
    type: state.type,
    attempt: state.attempt,
    signal: state.controller.signal,
    log,
    async step<T>(name: string, fn: (run: StepRun) => Promise<T> | T): Promise<T> {
      // Refused like a duplicate, not retried: PostgreSQL would refuse it on every attempt.
      if (name.length > MAX_STEP_NAME || unstorableText(name))
        throw new SpoolError('invalid_step_name', `a step name is at most ${MAX_STEP_NAME} characters, without NUL characters`);
      if (started.has(name)) throw new SpoolError('duplicate_step', `step "${name}" ran twice in one job`);
      started.add(name);
      if (state.doneSteps.has(name)) return state.doneSteps.get(name) as T;
      throwIfAborted();
      const start = await state.checkpoints.start(name);
      if (!start.leased) throw leaseLostError();
      if (start.cancel_requested) {
        state.controller.abort(canceledError());
        throw canceledError();
      }
      emit('step', { name, status: 'running', runs: start.runs });
      let stored: unknown;
      try {
        stored = storableOutput(await fn({ runs: start.runs ?? 1 }), `the output of step "${name}"`);
      } catch (err) {
        const e = toSpoolError(state.controller.signal.reason ?? err);
        await state.checkpoints.failed(name, e.toJobError());
        emit('step', { name, status: 'failed' });
        throw err;
      }
      // Written with the next step's start (see checkpoints.ts); a lost lease shows there.
      state.checkpoints.ended(name, stored);
      state.doneSteps.set(name, stored);
      emit('step', { name, status: 'completed' });
      return stored as T;
    },
    progress(pct: number, message?: string) {
      if (Number.isNaN(pct)) return; // no number to show (it went out as `pct: null`)
      const clamped = Math.max(0, Math.min(100, Math.round(pct * 100) / 100));
      // SPEC's `{pct, message}`: both always there, as on the job object.
      emit('progress', { pct: clamped, message: message === undefined ? null : cleanText(message) });
    },
    emit(delta: { text: string; restart?: boolean }) {
      const text = cleanText(delta.text);
      emit('delta', delta.restart ? { text, attempt: state.attempt, restart: true } : { text, attempt: state.attempt });
    },
    idempotencyKey: (stepName: string) => `${state.jobId}:${stepName}`,
    tokens,
    db,
    models: noModels,
  };
  if (deps.models) {
    const scope: JobScope = {
      jobId: state.jobId,
      tenantId: state.tenantId,
      type: state.type,
      attempt: state.attempt,
      signal: state.controller.signal,
      log,
      emit: (delta) => ctx.emit(delta),
    };
    (ctx as { models: ModelClient }).models = deps.models.forJob(scope);
  }
  return ctx;
}
