/**
 * Schedules as the API drives them: create (validated like a submit, committed, then its BullMQ
 * job scheduler upserted), list, get, update (pause, resume, a new expression or template),
 * delete. Routes stay thin: parse → call this → shape.
 */
import { z } from 'zod';
import type { Database } from '../db/client.ts';
import { assertVectors } from '../documents/store.ts';
import { isUnavailable, SpoolError } from '../errors.ts';
import type { JobRegistry } from '../jobs/registry.ts';
import { SubmitRequest } from '../jobs/service.ts';
import { unstorableJson } from '../jobs/storable-json.ts';
import type { SubmitGuard } from '../jobs/submit-guard.ts';
import type { Logger } from '../logger.ts';
import { isoTime, within } from '../time.ts';
import { screenWebhookUrl } from '../webhooks/ssrf.ts';
import { assertCron, assertTimezone, nextRun } from './cron.ts';
import type { Scheduler } from './queue.ts';
import * as store from './store.ts';

/** The job each firing submits: a submit request without idempotency key or delay. */
export const JobTemplate = SubmitRequest.pick({ type: true, input: true, priority: true, webhook: true, metadata: true });

export const CreateScheduleRequest = z.object({
  /** 5 fields (minute first) or 6 (second first), or a macro such as `@daily`. */
  cron: z.string().min(1).max(200),
  /** IANA time zone the expression is read in; UTC when omitted or null. */
  timezone: z.string().min(1).max(64).nullable().optional(),
  name: z.string().min(1).max(200).nullable().optional(),
  /** `false` creates it paused (no ticks until a PATCH resumes it); it was ignored, and ticked. */
  enabled: z.boolean().optional(),
  job: JobTemplate,
});
export type CreateScheduleRequest = z.infer<typeof CreateScheduleRequest>;

/**
 * The fields to change; those left out keep their value. Unknown fields are refused rather than
 * ignored: a `{"paused": true}` that did nothing would look like it worked.
 */
export const UpdateScheduleRequest = z
  .object({
    cron: CreateScheduleRequest.shape.cron.optional(),
    /** `null` reads the expression in UTC again. */
    timezone: z.string().min(1).max(64).nullable().optional(),
    name: z.string().min(1).max(200).nullable().optional(),
    /** `false` pauses it (no ticks, `nextRunAt: null`); `true` resumes it from the next tick due. */
    enabled: z.boolean().optional(),
    /** Replaces the whole template; later ticks submit it. */
    job: JobTemplate.optional(),
  })
  .strict()
  .refine((r) => Object.keys(r).length > 0, {
    message: 'name at least one of cron, timezone, name, enabled, job',
    // Not on top of another issue: `{"paused": true}` is an unknown key, not an empty body.
    when: (payload) => payload.issues.length === 0,
  });
export type UpdateScheduleRequest = z.infer<typeof UpdateScheduleRequest>;

/** The schedule object of the HTTP API. */
export interface Schedule {
  id: string;
  name: string | null;
  cron: string;
  timezone: string | null;
  job: {
    type: string;
    input: unknown;
    priority: number | null;
    webhook: { url: string } | null;
    metadata: Record<string, unknown>;
  };
  enabled: boolean;
  createdAt: string;
  /** When it fires next (computed from the expression; null when disabled). */
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastJobId: string | null;
  lastError: { code: string; message: string } | null;
}

// Each schedule is a BullMQ scheduler plus a reconciler check every pass: keep them bounded.
export const MAX_SCHEDULES_PER_TENANT = 1_000;
// Same bound as a submit's add: past it the schedule is still created and the reconciler upserts it.
const UPSERT_TIMEOUT_MS = 3_000;

export interface ScheduleServiceDeps {
  db: Database;
  registry: JobRegistry;
  scheduler: Scheduler;
  /** SPOOL_WEBHOOK_ALLOW_PRIVATE: lifts the SSRF guard (development and tests). */
  allowPrivateWebhooks: boolean;
  /** Its static checks (models, token budgets) hold a template to what a submit of it would meet. */
  guard?: Pick<SubmitGuard, 'checkStatic'> | undefined;
  log: Logger;
}

export class ScheduleService {
  constructor(private readonly deps: ScheduleServiceDeps) {}

  /** The BullMQ queue of ticks (for Bull Board and queue depth). */
  get queue() {
    return this.deps.scheduler.queue;
  }

  /** Validates as a submit would, commits the row, then upserts the scheduler (best effort). */
  async create(tenantId: string, req: CreateScheduleRequest): Promise<Schedule> {
    const { db } = this.deps;
    assertCron(req.cron, req.timezone);
    assertStorable({ name: req.name });
    const template = await this.templateColumns(req.job);
    const row = await store.insertScheduleWithin(
      db,
      {
        tenantId,
        name: req.name ?? null,
        cron: req.cron.trim(),
        timezone: req.timezone ?? null,
        ...template,
        enabled: req.enabled ?? true,
      },
      MAX_SCHEDULES_PER_TENANT,
    );
    if (!row) {
      throw new SpoolError(
        'too_many_schedules',
        `a tenant may have at most ${MAX_SCHEDULES_PER_TENANT} schedules; delete one first`,
        {
          status: 409,
        },
      );
    }
    await this.syncScheduler(row);
    return toSchedule(row);
  }

  /**
   * Validates the fields given as create would, commits them, then brings the scheduler in line:
   * upserted with the new expression, removed when paused, added back when resumed. An
   * expression is valid in every zone, so each field is checked on its own, without a read.
   */
  async update(tenantId: string, id: string, req: UpdateScheduleRequest): Promise<Schedule> {
    // Only the fields named: a concurrent PATCH of another field keeps its change.
    const changes: store.ScheduleChanges = {};
    if (req.cron !== undefined) {
      assertCron(req.cron);
      changes.cron = req.cron.trim();
    }
    if (req.timezone !== undefined) {
      if (req.timezone !== null) assertTimezone(req.timezone);
      changes.timezone = req.timezone;
    }
    if (req.name !== undefined) {
      assertStorable({ name: req.name });
      changes.name = req.name;
    }
    if (req.enabled !== undefined) changes.enabled = req.enabled;
    if (req.job) Object.assign(changes, await this.templateColumns(req.job));
    const row = await store.updateSchedule(this.deps.db, tenantId, id, changes);
    if (!row) throw notFound(id); // deleted meanwhile
    // Only what BullMQ's scheduler holds: an upsert replaces the pending tick, so a rename
    // must not move it.
    if (req.cron !== undefined || req.timezone !== undefined || req.enabled !== undefined) await this.syncScheduler(row);
    return toSchedule(row);
  }

  async get(tenantId: string, id: string): Promise<Schedule> {
    const row = await store.getSchedule(this.deps.db, tenantId, id);
    if (!row) throw notFound(id);
    return toSchedule(row);
  }

  async list(
    tenantId: string,
    q: { limit: number; cursor?: string | undefined },
  ): Promise<{ data: Schedule[]; nextCursor: string | null }> {
    const rows = await store.listSchedules(this.deps.db, tenantId, { limit: q.limit + 1, cursor: q.cursor });
    const page = rows.slice(0, q.limit);
    return { data: page.map(toSchedule), nextCursor: rows.length > q.limit ? page.at(-1)!.id : null };
  }

  /** Deletes the row, then the scheduler. A scheduler left behind (Redis down) finds no row and removes itself. */
  async delete(tenantId: string, id: string): Promise<void> {
    if (!(await store.deleteSchedule(this.deps.db, tenantId, id))) throw notFound(id);
    await within(UPSERT_TIMEOUT_MS, this.deps.scheduler.remove(id)).catch((err) =>
      this.deps.log.warn({ err: String(err), scheduleId: id }, 'scheduler removal failed; its next tick removes it'),
    );
    await this.ticksDone(id);
  }

  /**
   * Redis made to match the committed row, bounded in time. A failure still answers: the row is
   * durable, and the reconciler's sweep upserts every enabled schedule whose scheduler is missing
   * or holds another expression, and removes the schedulers of paused and deleted ones.
   */
  private async syncScheduler(row: store.ScheduleRow): Promise<void> {
    const { scheduler, log } = this.deps;
    const sync = async () => {
      if (!row.enabled) return scheduler.remove(row.id);
      // An upsert replaces the pending tick, so a PATCH that changed nothing Redis holds would
      // drop an overdue one (no worker has taken it yet) and fire at the next tick instead.
      if ((await scheduler.matching([row])).has(row.id)) return;
      await scheduler.upsert(row);
    };
    try {
      await within(UPSERT_TIMEOUT_MS, sync());
    } catch (err) {
      log.warn(
        { err: isUnavailable(err) ? String(err) : err, scheduleId: row.id },
        'scheduler update failed; the reconciler will repair it',
      );
    }
    if (!row.enabled) await this.ticksDone(row.id);
  }

  /**
   * A pause or delete answers once no tick of the schedule is under way: a tick that read the
   * schedule before the change could otherwise make its job after the answer. A tick that starts
   * later reads the change (it is committed) and makes none. Bounded, like the removal.
   */
  private async ticksDone(id: string): Promise<void> {
    await within(UPSERT_TIMEOUT_MS, this.deps.scheduler.settled(id, UPSERT_TIMEOUT_MS)).catch((err) =>
      this.deps.log.warn({ err: String(err), scheduleId: id }, 'could not wait for a tick under way'),
    );
  }

  /** A job template checked as a submit would be (input schema, webhook target), as row columns. */
  private async templateColumns(job: z.infer<typeof JobTemplate>) {
    const jobInput = this.validateTemplate(job);
    if (job.webhook) await screenWebhookUrl(job.webhook.url, this.deps.allowPrivateWebhooks);
    return {
      jobType: job.type,
      jobInput,
      jobPriority: job.priority ?? null,
      jobWebhookUrl: job.webhook?.url ?? null,
      jobMetadata: job.metadata ?? null,
    };
  }

  /** The template's input parsed by its type's schema, with errors shaped like a submit's. */
  private validateTemplate(job: z.infer<typeof JobTemplate>): unknown {
    const def = this.deps.registry.get(job.type);
    if (!def) {
      throw new SpoolError('unknown_job_type', `job.type: unknown job type "${job.type}"`, {
        status: 422,
        details: [{ path: ['job', 'type'], message: `unknown job type "${job.type}"` }],
      });
    }
    // A flag, or a function of the input (checked once the input has parsed).
    const needsVectors = def.needsVectors as boolean | ((input: unknown) => boolean) | undefined;
    if (needsVectors === true) assertVectors(this.deps.db);
    assertStorable({ job });
    const parsed = def.input.safeParse(job.input);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({
        path: ['job', 'input', ...(i.path as (string | number)[])],
        message: i.message,
      }));
      const first = issues[0]!;
      const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
      throw new SpoolError('validation_failed', `${first.path.join('.')}: ${first.message}${more}`, {
        status: 422,
        details: issues,
      });
    }
    if (typeof needsVectors === 'function' && needsVectors(parsed.data)) assertVectors(this.deps.db);
    // An unknown model or an input over the type's token budget would refuse every tick. Checks
    // against stored state (preflight, spend caps) are left to each tick: a nightly job may name
    // a document that does not exist yet when the schedule is made.
    this.deps.guard?.checkStatic([{ def, input: parsed.data }]);
    return parsed.data;
  }
}

export function toSchedule(r: store.ScheduleRow): Schedule {
  return {
    id: r.id,
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    job: {
      type: r.jobType,
      input: r.jobInput,
      priority: r.jobPriority,
      webhook: r.jobWebhookUrl ? { url: r.jobWebhookUrl } : null,
      metadata: (r.jobMetadata as Record<string, unknown> | null) ?? {},
    },
    enabled: r.enabled,
    createdAt: isoTime(r.createdAt)!,
    nextRunAt: r.enabled ? isoTime(nextRun(r.cron, r.timezone)) : null,
    lastRunAt: isoTime(r.lastRunAt),
    lastJobId: r.lastJobId,
    lastError: (r.lastError as Schedule['lastError']) ?? null,
  };
}

const notFound = (id: string) => new SpoolError('not_found', `schedule ${id} not found`, { status: 404 });

/** 422 for text PostgreSQL cannot keep (NUL, unpaired surrogates: a name was stored with U+FFFD), as a submit answers. */
function assertStorable(fields: Record<string, unknown>): void {
  const unstorable = unstorableJson(fields);
  if (!unstorable) return;
  throw new SpoolError('validation_failed', `${unstorable.path.join('.')}: ${unstorable.message}`, {
    status: 422,
    details: [unstorable],
  });
}
