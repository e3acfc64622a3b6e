/** SQL for schedules: PostgreSQL is the truth about which schedules exist. */
import { and, asc, desc, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { lockedTransaction } from '../db/locked.ts';
import { type ScheduleRow, schedules } from '../db/schema.ts';
import { newId } from '../ids.ts';

export type { ScheduleRow };

/** `sch_` + uuidv7: time-ordered like job ids, and a schedule id is never mistaken for a job id. */
export const newScheduleId = (): string => `sch_${newId()}`;

export type NewSchedule = Omit<typeof schedules.$inferInsert, 'id' | 'createdAt' | 'lastRunAt' | 'lastJobId' | 'lastError'>;

/**
 * Inserts the schedule unless its tenant already has `max`; undefined then. The count and the
 * insert hold the tenant's lock: as two statements, concurrent creates all counted the same
 * rows and passed the limit together.
 */
export async function insertScheduleWithin(db: Database, values: NewSchedule, max: number): Promise<ScheduleRow | undefined> {
  return lockedTransaction(db, `spool:schedules:${values.tenantId}`, async (tx) => {
    const [held] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(schedules)
      .where(eq(schedules.tenantId, values.tenantId));
    if ((held?.n ?? 0) >= max) return undefined;
    const [row] = await tx
      .insert(schedules)
      .values({ ...values, id: newScheduleId() })
      .returning();
    return row;
  });
}

export async function getSchedule(db: Database, tenantId: string, id: string): Promise<ScheduleRow | undefined> {
  const [row] = await db.orm
    .select()
    .from(schedules)
    .where(and(eq(schedules.tenantId, tenantId), eq(schedules.id, id)));
  return row;
}

/** Any tenant's: for the worker, which knows only the scheduler id. */
export async function getScheduleById(db: Database, id: string): Promise<ScheduleRow | undefined> {
  const [row] = await db.orm.select().from(schedules).where(eq(schedules.id, id));
  return row;
}

/** Newest first, keyset by id (time-ordered). */
export async function listSchedules(
  db: Database,
  tenantId: string,
  opts: { limit: number; cursor?: string | undefined },
): Promise<ScheduleRow[]> {
  return db.orm
    .select()
    .from(schedules)
    .where(and(eq(schedules.tenantId, tenantId), opts.cursor ? lt(schedules.id, opts.cursor) : undefined))
    .orderBy(desc(schedules.id))
    .limit(opts.limit);
}

export type ScheduleChanges = Partial<Omit<NewSchedule, 'tenantId'>>;

/** Updates and returns the row (undefined: missing, or another tenant's). */
export async function updateSchedule(
  db: Database,
  tenantId: string,
  id: string,
  changes: ScheduleChanges,
): Promise<ScheduleRow | undefined> {
  const [row] = await db.orm
    .update(schedules)
    .set(changes)
    .where(and(eq(schedules.tenantId, tenantId), eq(schedules.id, id)))
    .returning();
  return row;
}

/** Deletes and returns whether a row went (false: missing, or another tenant's). */
export async function deleteSchedule(db: Database, tenantId: string, id: string): Promise<boolean> {
  const rows = await db.orm
    .delete(schedules)
    .where(and(eq(schedules.tenantId, tenantId), eq(schedules.id, id)))
    .returning({ id: schedules.id });
  return rows.length > 0;
}

/**
 * Records a firing. Only moves forward: a late retry of an older tick never hides a newer one.
 * `error` set means the tick made no job (the template no longer validates, a budget is spent).
 */
export async function recordRun(
  db: Database,
  id: string,
  run: { firedAt: Date; jobId: string | null; error: { code: string; message: string } | null },
): Promise<void> {
  await db.orm
    .update(schedules)
    .set({ lastRunAt: run.firedAt, lastJobId: run.jobId, lastError: run.error })
    .where(
      and(eq(schedules.id, id), sql`(${schedules.lastRunAt} IS NULL OR ${schedules.lastRunAt} <= ${run.firedAt.toISOString()})`),
    );
}

/** Enabled schedules after `after` in id order: the reconciler walks them in batches. */
export async function enabledSchedulesAfter(db: Database, after: string, limit: number): Promise<ScheduleRow[]> {
  return db.orm
    .select()
    .from(schedules)
    .where(and(eq(schedules.enabled, true), gt(schedules.id, after)))
    .orderBy(asc(schedules.id))
    .limit(limit);
}

/** Which of `ids` still exist and are enabled. */
export async function existingEnabled(db: Database, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.orm
    .select({ id: schedules.id })
    .from(schedules)
    .where(and(inArray(schedules.id, ids), eq(schedules.enabled, true)));
  return new Set(rows.map((r) => r.id));
}
