/**
 * The explorer's query strings, parsed once: a bad value is a 400 with a code and a message
 * (never silently ignored, so an operator does not read an unfiltered list as a filtered one).
 */
import { SpoolError } from '@spool/core/errors';
import { unstorableJson } from '@spool/core/jobs/storable-json';
import { isClientTime } from '@spool/core/time';
import { type AdminListFilter, JOB_STATUSES, type JobStatus } from './queries.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The explorer's list filter: the query string, parsed (see parseListQuery). */
export type ListQuery = AdminListFilter;

export const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;

type Get = (name: string) => string | undefined;

const bad = (message: string) => new SpoolError('invalid_filter', message, { status: 400 });

/**
 * A time as typed in the form's `datetime-local` input (`2026-11-23T13:05`, read as UTC, the
 * explorer's only time zone) or any ISO 8601 string with a zone, from 1970 to 9998 as the API's
 * /v1/usage takes them: `new Date` alone took `10000`, years PostgreSQL cannot keep, and 30 February.
 */
export function parseTime(name: string, raw: string): Date {
  // 40, as /v1/usage: longer than any ISO 8601 date-time with an offset and nanoseconds.
  if (raw.length > 40 || !isClientTime(raw)) {
    throw bad(`${name} must be a time like 2026-11-23T13:05 (UTC), from 1970 to 9998, got "${raw}"`);
  }
  const local = /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?$/.test(raw);
  return new Date(local ? `${raw.length === 10 ? `${raw}T00:00` : raw}Z` : raw);
}

/** PostgreSQL refuses NUL and unpaired surrogates in text: refused here, a 400 instead of its error as a 500. */
function assertStorable(fields: Record<string, string | undefined>): void {
  const unstorable = unstorableJson(fields);
  if (unstorable) throw bad(`${unstorable.path.join('.')}: ${unstorable.message}`);
}

/** `YYYY-MM-DDTHH:MM` (UTC), the value a `datetime-local` input shows. */
export const toLocalInput = (d: Date | undefined) => (d ? d.toISOString().slice(0, 16) : '');

export function parseListQuery(get: Get): ListQuery {
  const v = (name: string) => get(name)?.trim() || undefined;
  const status = v('status');
  if (status && !(JOB_STATUSES as readonly string[]).includes(status)) {
    throw bad(`status must be one of ${JOB_STATUSES.join(', ')}, got "${status}"`);
  }
  const type = v('type');
  if (type && type.length > 100) throw bad('type is at most 100 characters');
  const tenant = v('tenant');
  if (tenant && tenant.length > 200) throw bad('tenant is at most 200 characters');
  assertStorable({ type, tenant });
  const cursor = v('cursor');
  if (cursor && !UUID.test(cursor)) throw bad('cursor must be a job id');
  const fromRaw = v('from');
  const toRaw = v('to');
  const from = fromRaw ? parseTime('from', fromRaw) : undefined;
  const to = toRaw ? parseTime('to', toRaw) : undefined;
  if (from && to && from >= to) throw bad('from must be before to');
  const limitRaw = v('limit');
  if (limitRaw && (!/^\d{1,3}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > MAX_PAGE)) {
    throw bad(`limit must be a whole number from 1 to ${MAX_PAGE}, got "${limitRaw}"`);
  }
  const limit = limitRaw ? Number(limitRaw) : DEFAULT_PAGE;
  return { status: status as JobStatus | undefined, type, tenant, from, to, cursor, limit };
}

/** The list's query string for links (next page), without empty values. */
export function listQueryString(q: ListQuery, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams();
  if (q.status) p.set('status', q.status);
  if (q.type) p.set('type', q.type);
  if (q.tenant) p.set('tenant', q.tenant);
  if (q.from) p.set('from', q.from.toISOString());
  if (q.to) p.set('to', q.to.toISOString());
  if (q.limit !== DEFAULT_PAGE) p.set('limit', String(q.limit));
  for (const [k, val] of Object.entries(extra)) p.set(k, val);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface UsageQuery {
  days: number;
  tenant?: string | undefined;
}

/** The overview's usage window: 1 to 90 days back from now, optionally one tenant. */
export function parseUsageQuery(get: Get): UsageQuery {
  const raw = get('days')?.trim() || '14';
  if (!/^\d{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > 90)
    throw bad(`days must be a whole number from 1 to 90, got "${raw}"`);
  const tenant = get('tenant')?.trim() || undefined;
  if (tenant && tenant.length > 200) throw bad('tenant is at most 200 characters');
  assertStorable({ tenant });
  return { days: Number(raw), tenant };
}
