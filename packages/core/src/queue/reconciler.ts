/**
 * The reconciler makes PostgreSQL (the truth) and BullMQ (the transport) agree again after
 * a failed add at submit, a Redis restart or flush, or a job BullMQ gave up on. It runs in
 * worker processes, one at a time across all of them (a Redis lock with expiry), every few
 * seconds, in batches. It never runs a job itself.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Database } from '../db/client.ts';
import type { EventBuffer } from '../events/redis-buffer.ts';
import { cancelChannel } from '../events/types.ts';
import type { JobRegistry } from '../jobs/registry.ts';
import type { Logger } from '../logger.ts';
import { jobsFinished, reconcilerRepairs } from '../metrics.ts';
import { outboxInsert } from '../store/webhooks.ts';
import { enqueue, enqueueRow, type Queues } from './queues.ts';
import type { TenantSlots } from './tenant-slots.ts';

export interface ReconcilerOptions {
  intervalMs: number;
  /** A queued job younger than this may still be on its way to Redis: leave it alone. */
  graceMs?: number;
  batchSize?: number;
}

interface LiveRow {
  id: string;
  tenant_id: string;
  type: string;
  status: 'queued' | 'running';
  attempts: number;
  priority: number | null;
  run_at: string | Date | null;
  /** Running, and asked to cancel longer ago than graceMs: its worker may have missed the broadcast. */
  cancel_overdue: boolean;
}

export interface ReconcileReport {
  scanned: number;
  readded: number;
  requeued: number;
  failed: number;
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly token = randomUUID();
  private readonly graceMs: number;
  private readonly batchSize: number;

  constructor(
    private readonly deps: {
      db: Database;
      redis: Redis;
      queues: Queues;
      registry: JobRegistry;
      buffer: EventBuffer;
      log: Logger;
      /** Enqueues webhook deliveries a repair recorded. */
      onDeliveries?: (ids: string[]) => Promise<void>;
      /** More reconciliations to run under the same lock (webhook deliveries). */
      sweeps?: (() => Promise<void>)[];
      /** Frees the tenant slot of a job it fails (see tenant-slots.ts), when tenants have a cap. */
      releaseSlot?: TenantSlots['release'] | undefined;
    },
    private readonly opts: ReconcilerOptions,
  ) {
    this.graceMs = opts.graceMs ?? 5_000;
    this.batchSize = opts.batchSize ?? 500;
  }

  start(): void {
    const tick = () => {
      this.running = this.runOnce()
        .catch((err) => this.deps.log.warn({ err }, 'reconcile failed'))
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass, if this process gets the lock. Returns undefined when another process holds it. */
  async runOnce(): Promise<ReconcileReport | undefined> {
    const { redis, queues } = this.deps;
    const lockKey = `${queues.prefix}:reconciler:lock`;
    const got = await redis.set(lockKey, this.token, 'PX', Math.max(this.opts.intervalMs * 3, 30_000), 'NX');
    if (got !== 'OK') return undefined;
    try {
      return await this.pass();
    } finally {
      await redis.eval(RELEASE, 1, lockKey, this.token).catch(() => {});
    }
  }

  private async pass(): Promise<ReconcileReport> {
    const report: ReconcileReport = { scanned: 0, readded: 0, requeued: 0, failed: 0 };
    let after = '';
    for (;;) {
      const rows = await this.deps.db.query<LiveRow>(sql`
        SELECT id, tenant_id, type, status, attempts, priority, run_at,
          status = 'running' AND cancel_requested_at < now() - make_interval(secs => ${this.graceMs / 1000}) AS cancel_overdue
        FROM jobs
        WHERE status IN ('queued', 'running') AND id > ${after}
          AND (status = 'running' OR queued_at < now() - make_interval(secs => ${this.graceMs / 1000}))
        ORDER BY id LIMIT ${this.batchSize}`);
      if (rows.length === 0) break;
      after = rows.at(-1)!.id;
      report.scanned += rows.length;
      await this.repair(
        rows.filter((r) => this.deps.registry.get(r.type)),
        report,
      );
    }
    if (report.readded + report.requeued + report.failed > 0) this.deps.log.info(report, 'reconciler repaired jobs');
    for (const sweep of this.deps.sweeps ?? []) await sweep();
    return report;
  }

  private async repair(rows: LiveRow[], report: ReconcileReport): Promise<void> {
    const { db, redis, queues, registry, buffer } = this.deps;
    // Before a running row is ended or requeued: fence out its worker if it still runs (see
    // events/redis-buffer.ts), and get the seq to number the next event above.
    const fenceOut = (id: string) =>
      buffer.begin(id).then(
        (b) => b.lastSeq,
        () => 0,
      );
    // One round trip for the batch: every BullMQ job hash has `timestamp`; a finished one has `finishedOn`.
    const pipe = redis.pipeline();
    for (const r of rows) pipe.hmget(`${queues.prefix}:${r.type}:${r.id}`, 'timestamp', 'finishedOn', 'failedReason');
    const states = (await pipe.exec()) ?? [];

    const toAdd: LiveRow[] = [];
    let readded = 0;
    for (const [i, row] of rows.entries()) {
      const [err, fields] = states[i] ?? [];
      if (err) continue;
      const [timestamp, finishedOn, failedReason] = fields as (string | null)[];
      const exists = timestamp !== null;
      const finished = finishedOn !== null;

      if (row.status === 'queued') {
        if (exists && finished) {
          // A retry whose add failed: BullMQ still holds the old finished job under this id. Or
          // the job was claimed and finished since the read above: then leave it alone (no
          // worker can take a finished BullMQ job, so a row still queued now stays queued).
          if (!(await stillQueued(db, row))) continue;
          await queues
            .get(row.type)
            .remove(row.id)
            .catch(() => {});
        }
        if (!exists || finished) {
          toAdd.push(row);
          readded++;
        }
        continue;
      }
      // running in PostgreSQL. Whatever is done next ends the attempt (see fenceOut).
      if (exists && !finished && row.cancel_overdue) {
        // The cancel is broadcast once, and otherwise seen only when the next step starts: a
        // broadcast lost (a publish that timed out, a worker reconnecting) left a long step
        // running to its end. Said again every pass until the job ends.
        await redis.publish(cancelChannel(queues.prefix), row.id).catch(() => {});
        reconcilerRepairs.inc({ kind: 'cancel_resent' });
      }
      if (!exists || (finished && failedReason === null)) {
        const floor = await fenceOut(row.id);
        // Redis lost it (restart, flush), or BullMQ completed it while the row says running (the
        // closing write was lost; nobody will run it again): queue it again, unless it finished
        // meanwhile. The update is fenced on the attempt read above, so a worker's closing write
        // that lands between the two reads wins. BullMQ's finished job is removed only once the
        // row has moved: removed before, a job that completed during the pass lost its record.
        const moved = await db.query<{ last_seq: number }>(sql`
          WITH upd AS (
            UPDATE jobs SET status = 'queued', queued_at = now(), last_seq = GREATEST(last_seq, ${floor}) + 1
            WHERE id = ${row.id} AND status = 'running' AND attempts = ${row.attempts}
            RETURNING id, last_seq, attempts
          ),
          ev AS (
            INSERT INTO job_events (job_id, seq, type, data)
            SELECT id, last_seq, 'status', jsonb_build_object('status', 'queued', 'attempt', attempts, 'reason', 'reconciled') FROM upd
          )
          SELECT last_seq FROM upd`);
        if (moved[0]) {
          if (exists)
            await queues
              .get(row.type)
              .remove(row.id)
              .catch(() => {});
          report.requeued++;
          reconcilerRepairs.inc({ kind: 'running_requeued' });
          await buffer
            .publish(row.id, { seq: moved[0].last_seq, type: 'status', data: { status: 'queued', reason: 'reconciled' } })
            .catch(() => {});
          toAdd.push(row);
        }
      } else if (finished && failedReason !== null) {
        // BullMQ failed it without our handler's closing write (it stalled too many times).
        const floor = await fenceOut(row.id);
        const failed = await db.query<{ last_seq: number; deliveries: string[] }>(sql`
          WITH upd AS (
            UPDATE jobs SET status = 'failed', finished_at = now(), last_seq = GREATEST(last_seq, ${floor}) + 1,
              error = jsonb_build_object('code', 'stalled', 'message', ${failedReason}::text, 'retryable', false)
            WHERE id = ${row.id} AND status = 'running' AND attempts = ${row.attempts}
            RETURNING *
          ),
          ev AS (
            INSERT INTO job_events (job_id, seq, type, data)
            SELECT id, last_seq, 'failed', jsonb_build_object('error', error) FROM upd
          ),
          wh AS (${outboxInsert})
          SELECT u.last_seq, COALESCE((SELECT jsonb_agg(id) FROM wh), '[]'::jsonb) AS deliveries FROM upd u`);
        if (failed[0]) {
          // Its worker, killed (the usual reason a job stalls), never released the tenant slot:
          // the tenant's line waited for it to lapse (the type's timeout and a minute).
          await this.deps.releaseSlot?.(row.tenant_id, row.id).catch(() => {});
          await this.deps.onDeliveries?.(failed[0].deliveries);
          report.failed++;
          reconcilerRepairs.inc({ kind: 'stalled_failed' });
          jobsFinished.inc({ type: row.type, status: 'failed' });
          await buffer
            .publish(row.id, {
              seq: failed[0].last_seq,
              type: 'failed',
              data: { error: { code: 'stalled', message: failedReason, retryable: false } },
            })
            .catch(() => {});
        }
      }
    }
    if (toAdd.length > 0) {
      await enqueue(queues, registry, toAdd.map(enqueueRow));
      report.readded += readded;
      if (readded > 0) reconcilerRepairs.inc({ kind: 'readded' }, readded);
    }
  }
}

async function stillQueued(db: Database, row: LiveRow): Promise<boolean> {
  const rows = await db.query(sql`SELECT 1 FROM jobs WHERE id = ${row.id} AND status = 'queued' AND attempts = ${row.attempts}`);
  return rows.length > 0;
}
