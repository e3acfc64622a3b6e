/**
 * The job lifecycle as the API drives it: submit (durable first, then enqueued), read,
 * list, cancel and retry. Routes stay thin: parse → call this → shape the response.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import { GroupCommit } from '../db/group-commit.ts';
import { assertVectors } from '../documents/store.ts';
import { isUnavailable, SpoolError } from '../errors.ts';
import type { EventBuffer } from '../events/redis-buffer.ts';
import { cancelChannel, type JobEvent } from '../events/types.ts';
import { hashJson, newId } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { enqueueFailures, jobsFinished, jobsSubmitted } from '../metrics.ts';
import { type EnqueueRow, enqueue, enqueueRow, MAX_PRIORITY, type Queues } from '../queue/queues.ts';
import { runningSlotsKey, slotRelease, type TenantSlots } from '../queue/tenant-slots.ts';
import * as store from '../store/jobs.ts';
import { within } from '../time.ts';
import type { WebhookProducer } from '../webhooks/queue.ts';
import { screenWebhookUrl, type WebhookLookup } from '../webhooks/ssrf.ts';
import type { JobRegistry } from './registry.ts';
import { type Job, toJob } from './serialize.ts';
import { unstorableJson } from './storable-json.ts';
import type { SubmitGuard } from './submit-guard.ts';

// The optional fields also take null, as the job object shows them: a client may send back what it read.
export const SubmitRequest = z.object({
  type: z.string().min(1).max(100),
  // Required (each type says what it holds): a bare `z.unknown()` is optional in the OpenAPI
  // document, and its message for a missing input was "expected nonoptional".
  input: z.unknown().nonoptional('input is required: the job type’s input object (GET /v1/job-types shows its schema)'),
  idempotencyKey: z.string().min(1).max(255).optional(),
  /** BullMQ's convention: 1 runs first; omitted means plain FIFO (which runs before any prioritized job). */
  priority: z.number().int().min(1).max(MAX_PRIORITY).nullish(),
  delayMs: z
    .number()
    .int()
    .min(0)
    .max(365 * 24 * 3_600_000)
    .nullish(),
  webhook: z.object({ url: z.string().url().max(2048) }).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type SubmitRequest = z.infer<typeof SubmitRequest>;

/**
 * The hash that makes "same key, same body" a replay. `null` means "not set" for the optional
 * fields (README), so a retry that sends `priority: null` where the first submit left it out
 * is the same request, not a 409: those nulls are dropped before hashing. Left out is the
 * canonical form, so hashes stored before this rule still match retries that omit the fields.
 */
function requestHash(req: Omit<SubmitRequest, 'idempotencyKey'>): string {
  const { priority, delayMs, webhook, metadata, ...rest } = req;
  return hashJson({
    ...rest,
    ...(priority != null && { priority }),
    ...(delayMs != null && { delayMs }),
    ...(webhook != null && { webhook }),
    ...(metadata != null && { metadata }),
  });
}

export const BatchRequest = z.object({ jobs: z.array(SubmitRequest).min(1).max(1_000) });

export interface Submitted {
  job: Job;
  /** True when an idempotency key matched an earlier identical request. */
  replayed: boolean;
}

export interface JobServiceDeps {
  db: Database;
  queues: Queues;
  registry: JobRegistry;
  /** The producer connection: fails fast. */
  redis: Redis;
  buffer: EventBuffer;
  webhooks: WebhookProducer;
  /** SPOOL_WEBHOOK_ALLOW_PRIVATE: lifts the SSRF guard (development and tests). */
  allowPrivateWebhooks: boolean;
  /** The SSRF guard's resolver; node's `dns.lookup` unless a test injects one (see ssrf.ts). */
  webhookLookup?: WebhookLookup | undefined;
  /** Token budgets and spend caps, checked before anything is written. */
  guard?: SubmitGuard | undefined;
  log: Logger;
}

// The add to Redis is bounded: past this, the job is still accepted and the reconciler adds it.
const ENQUEUE_TIMEOUT_MS = 3_000;

export class JobService {
  /** Frees the tenant slot a canceled queued job may hold, whatever cap the workers run with. */
  private readonly releaseSlot: TenantSlots['release'];

  constructor(private readonly deps: JobServiceDeps) {
    const { redis, queues } = deps;
    this.releaseSlot = slotRelease(redis, runningSlotsKey(queues.prefix), (name) => queues.get(name));
  }

  /** Validates every request, commits all rows in one statement, then adds them in one bulk add. */
  async submit(tenantId: string, requests: SubmitRequest[]): Promise<Submitted[]> {
    const { db, registry } = this.deps;
    const issues: { index: number; path: (string | number)[]; message: string }[] = [];
    const rows: store.NewJob[] = requests.map((req, index) => {
      const def = registry.get(req.type);
      if (!def) {
        issues.push({ index, path: ['type'], message: `unknown job type "${req.type}"` });
        return undefined as never;
      }
      if (def.needsVectors === true) assertVectors(db);
      // Before anything recurses into it (the schema, the request hash, PostgreSQL).
      const unstorable = unstorableJson(req);
      if (unstorable) {
        issues.push({ index, ...unstorable });
        return undefined as never;
      }
      const parsed = def.input.safeParse(req.input);
      if (!parsed.success) {
        for (const i of parsed.error.issues)
          issues.push({ index, path: ['input', ...(i.path as (string | number)[])], message: i.message });
        return undefined as never;
      }
      if (typeof def.needsVectors === 'function' && def.needsVectors(parsed.data)) assertVectors(db);
      const { idempotencyKey, ...rest } = req;
      return {
        id: '', // made after the checks, below
        tenant_id: tenantId,
        type: req.type,
        input: parsed.data,
        priority: req.priority ?? null,
        metadata: req.metadata ?? null,
        webhook_url: req.webhook?.url ?? null,
        idempotency_key: idempotencyKey ?? null,
        request_hash: idempotencyKey ? requestHash(rest) : null,
        run_at: req.delayMs ? new Date(Date.now() + req.delayMs).toISOString() : null,
      };
    });
    if (issues.length > 0) {
      const unknownType = issues.every((i) => i.path[0] === 'type');
      throw new SpoolError(unknownType ? 'unknown_job_type' : 'validation_failed', describe(issues, requests.length), {
        status: 422,
        details: requests.length === 1 ? issues.map(({ index: _, ...i }) => i) : issues,
      });
    }
    assertNoConflictingKeys(rows);
    try {
      await this.deps.guard?.check(
        tenantId,
        rows.map((r) => ({ def: registry.get(r.type)!, input: r.input })),
      );
      await this.checkWebhookUrls(rows);
    } catch (err) {
      // These checks read state that changes (a budget spent, a document deleted, a webhook host
      // that no longer resolves): the retry of a request already accepted answers its jobs, as
      // a client whose reply was lost expects, rather than a refusal of work that exists.
      const replayed = await this.replayOf(tenantId, rows).catch(() => undefined); // PostgreSQL down: the first error says it
      if (replayed) return replayed;
      throw err;
    }

    // Ids are made now, after the checks that wait (the spend caps, a webhook host's DNS): an
    // id is the list's order and cursor, and one made before a slow check committed after
    // later submits' and was listed below them, where a newest-first reader never looks. The
    // group commit writes in the order of these calls, so commits follow ids (in one process).
    for (const row of rows) row.id = newId();
    // Committed, then added to Redis, each together with concurrent submissions (see group-commit.ts).
    const batch = await this.inserts.run(rows);
    const mine = new Set(rows.map((r) => r.id));
    const inserted = batch.length === rows.length ? batch : batch.filter((r) => mine.has(r.id));
    if (inserted.length > 0) await this.enqueues.run(inserted.map(enqueueRow));
    const byId = new Map(inserted.map((r) => [r.id, r]));
    const missing = rows.filter((r) => !byId.has(r.id));
    const existing = missing.length ? await this.priorJobs(tenantId, missing) : new Map<string | null, store.JobRecord>();

    const out = rows.map((row): Submitted => {
      const fresh = byId.get(row.id);
      if (fresh) return { job: toJob(fresh), replayed: false };
      const prior = existing.get(row.idempotency_key);
      if (!prior) throw new SpoolError('conflict', 'the job changed while it was submitted; try again', { status: 409 });
      if (!sameRequest(prior, row)) {
        throw new SpoolError('idempotency_conflict', `idempotency key "${row.idempotency_key}" was used with another request`, {
          status: 409,
          details: { jobId: prior.id },
        });
      }
      return { job: toJob(prior), replayed: true };
    });

    return out;
  }

  /** Every row's earlier job, when each row has a key that an identical request already used. */
  private async replayOf(tenantId: string, rows: store.NewJob[]): Promise<Submitted[] | undefined> {
    if (!rows.every((r) => r.idempotency_key)) return undefined;
    const prior = await this.priorJobs(tenantId, rows);
    const jobs = rows.map((r) => prior.get(r.idempotency_key));
    const same = jobs.every((j, i) => j && sameRequest(j, rows[i]!));
    return same ? jobs.map((j) => ({ job: toJob(j!), replayed: true })) : undefined;
  }

  /** The tenant's jobs that hold these rows' idempotency keys, by key. */
  private async priorJobs(tenantId: string, rows: store.NewJob[]): Promise<Map<string | null, store.JobRecord>> {
    const found = await store.findByIdempotencyKeys(
      this.deps.db,
      tenantId,
      rows.map((r) => r.idempotency_key!),
    );
    return new Map(found.map((r) => [r.idempotency_key, r]));
  }

  /**
   * Submissions go through two stages, one batch in flight in each: one INSERT for the rows of
   * every waiting submission, then one bulk add for the rows inserted. The stages overlap (the
   * next INSERT runs while the last batch is added to Redis), and callers that arrive meanwhile
   * ride the next batch. One in flight per stage, not 4 writes of both: on the submit benchmark
   * PostgreSQL's CPU per job fell by about a quarter (fewer, fuller statements). 1,000 rows is the
   * batch route's own limit.
   */
  private readonly inserts = new GroupCommit<store.NewJob, store.JobRecord[]>(
    async (rows) => {
      const inserted = await store.insertJobs(this.deps.db, rows);
      for (const r of inserted) jobsSubmitted.inc({ type: r.type });
      return inserted;
    },
    { maxInFlight: 1, maxItems: 1_000 },
  );

  private readonly enqueues = new GroupCommit<EnqueueRow, void>((rows) => this.enqueueDurable(rows), {
    maxInFlight: 1,
    maxItems: 1_000,
  });

  async get(tenantId: string, id: string): Promise<Job> {
    return toJob(await this.record(tenantId, id));
  }

  async record(tenantId: string, id: string): Promise<store.JobRecord> {
    const row = await store.getJob(this.deps.db, tenantId, id);
    if (!row) throw new SpoolError('not_found', `job ${id} not found`, { status: 404 });
    return row;
  }

  async list(tenantId: string, filter: store.ListFilter): Promise<{ data: Job[]; nextCursor: string | null }> {
    const rows = await store.listJobs(this.deps.db, tenantId, { ...filter, limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    return { data: page.map(toJob), nextCursor: rows.length > filter.limit ? page.at(-1)!.id : null };
  }

  /**
   * queued → canceled at once; running → the worker running it is told and aborts. The two are
   * separate statements: a job can move between them (a claim, or an attempt's `queued` closing
   * write when it will be retried), and then neither matched, so the cancel is tried again.
   */
  async cancel(tenantId: string, id: string): Promise<Job> {
    for (let round = 1; ; round++) {
      const done = await this.tryCancel(tenantId, id);
      if (done) return done;
      const job = await this.get(tenantId, id);
      if (job.status !== 'queued' && job.status !== 'running')
        throw new SpoolError('job_finished', `job ${id} is already ${job.status}`, {
          status: 409,
          details: { status: job.status },
        });
      if (round === 3)
        throw new SpoolError('conflict', `job ${id} changed state while it was canceled; try again`, { status: 409 });
    }
  }

  /** The job once canceled or marked for cancellation; undefined if it was neither queued nor running. */
  private async tryCancel(tenantId: string, id: string): Promise<Job | undefined> {
    const { db, queues, redis, log } = this.deps;
    const canceled = await store.cancelQueued(db, tenantId, id, await this.seqFloor(id));
    if (canceled) {
      const job = await this.get(tenantId, id);
      jobsFinished.inc({ type: job.type, status: 'canceled' });
      // Best effort: a queued job left in Redis is skipped by the worker (its row says canceled).
      await this.removeFromQueue(job.type, id);
      // Handed its tenant's slot a moment ago, it will not come for it now: pass it on.
      await this.releaseSlot(tenantId, id).catch((err) => log.warn({ err: String(err), id }, 'tenant slot not released'));
      await this.publish(id, { seq: canceled.lastSeq, type: 'canceled', data: {} });
      // The deliveries are in the outbox already: a failed enqueue is left to the webhook sweep.
      await within(ENQUEUE_TIMEOUT_MS, this.deps.webhooks.enqueue(canceled.deliveries), 'webhook enqueue not done').catch((err) =>
        log.warn({ err: String(err), id }, 'webhook enqueue failed'),
      );
      return job;
    }
    if (await store.requestCancel(db, tenantId, id)) {
      // Read before the broadcast: a worker aborts within milliseconds, and the answer is the
      // state the cancel was asked in (running, cancelRequested: 202), not a race with it.
      const job = await this.get(tenantId, id);
      await redis.publish(cancelChannel(queues.prefix), id).catch((err) => {
        // The step runner also checks between steps, so the cancel still lands.
        log.warn({ err, id }, 'cancel broadcast failed');
      });
      return job;
    }
    return undefined;
  }

  /** failed or canceled → queued again; completed steps are kept. */
  async retry(tenantId: string, id: string): Promise<Job> {
    const { db } = this.deps;
    const row = await store.requeueFinished(db, tenantId, id, await this.seqFloor(id));
    if (!row) {
      const job = await this.get(tenantId, id);
      throw new SpoolError('not_retryable', `job ${id} is ${job.status}; only failed or canceled jobs can be retried`, {
        status: 409,
        details: { status: job.status },
      });
    }
    // BullMQ still holds the finished job under this id; an add with that id would be a no-op.
    // Left undone (Redis down), the add is too: the reconciler removes it, then adds the job.
    const removed = await this.removeFromQueue(row.type, id);
    // Event and answer before the add: once added, a worker may start it at once, and its
    // `running` event (the next seq) and state must not come before the `queued` ones.
    await this.publish(id, { seq: row.last_seq, type: 'status', data: { status: 'queued', retried: true } });
    const job = await this.get(tenantId, id);
    if (removed) await this.enqueueDurable([enqueueRow(row)]);
    return job;
  }

  /** The SSRF guard at submit, once per distinct webhook URL (see screenWebhookUrl). */
  private async checkWebhookUrls(rows: store.NewJob[]): Promise<void> {
    const urls = new Set(rows.map((r) => r.webhook_url).filter((u): u is string => u !== null));
    for (const url of urls) await screenWebhookUrl(url, this.deps.allowPrivateWebhooks, this.deps.webhookLookup);
  }

  /**
   * Removes a job from BullMQ, bounded like an add: a queue's connection holds commands while
   * Redis is down, and a cancel or retry already committed answered 503 after 8 s, inviting a
   * second try that found the job moved on (409).
   */
  private async removeFromQueue(type: string, id: string): Promise<boolean> {
    try {
      await within(ENQUEUE_TIMEOUT_MS, this.deps.queues.get(type).remove(id), 'remove not done');
      return true;
    } catch (err) {
      this.deps.log.warn({ err: String(err), id }, 'remove from queue failed');
      return false;
    }
  }

  /** The row is committed already: a failed add is logged and left to the reconciler. */
  private async enqueueDurable(rows: EnqueueRow[]): Promise<void> {
    if (rows.length === 0) return;
    const { queues, registry, log } = this.deps;
    try {
      await within(ENQUEUE_TIMEOUT_MS, enqueue(queues, registry, rows), 'enqueue not done');
    } catch (err) {
      enqueueFailures.inc(rows.length);
      log.warn(
        { err: isUnavailable(err) ? String(err) : err, jobs: rows.length },
        'enqueue failed; the reconciler will add these jobs',
      );
    }
  }

  /**
   * The highest seq in the job's Redis buffer: an event the API numbers goes above it. It can be
   * ahead of PostgreSQL when a worker's claim was lost in a crash of PostgreSQL after its
   * `running` event went out, or a worker died before its last events were batched.
   */
  private seqFloor(jobId: string): Promise<number> {
    return this.deps.buffer.lastSeq(jobId).catch(() => 0);
  }

  private async publish(jobId: string, event: JobEvent): Promise<void> {
    await this.deps.buffer.publish(jobId, event).catch(() => {});
  }
}

/** Whether the job holding a row's idempotency key was made by the same request. */
const sameRequest = (prior: store.JobRecord, row: store.NewJob) =>
  prior.request_hash === row.request_hash && prior.type === row.type;

function assertNoConflictingKeys(rows: store.NewJob[]) {
  const seen = new Map<string, string | null>();
  for (const r of rows) {
    if (!r.idempotency_key) continue;
    const prior = seen.get(r.idempotency_key);
    if (prior !== undefined && prior !== r.request_hash) {
      throw new SpoolError(
        'idempotency_conflict',
        `idempotency key "${r.idempotency_key}" is used twice with different requests`,
        { status: 409 },
      );
    }
    seen.set(r.idempotency_key, r.request_hash);
  }
}

function describe(issues: { index: number; path: (string | number)[]; message: string }[], count: number): string {
  const first = issues[0]!;
  const where = `${count > 1 ? `jobs[${first.index}].` : ''}${first.path.join('.')}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return `${where}: ${first.message}${more}`;
}
