/**
 * Which of Bull Board's writes Spool goes along with. PostgreSQL holds the truth of a job and
 * BullMQ only carries it, so some of Bull Board's actions answered 204 and did nothing that
 * lasted: a waiting job removed from BullMQ was added back by the reconciler (its row still
 * said queued) and ran; a retried completed job was not run again (its row had ended); a job
 * added in Bull Board has no row and is never run. Those are refused with a 409 that says what
 * to do instead, in the shape Bull Board's UI shows as a toast. Pausing, resuming, promoting,
 * retrying failed jobs and removing finished ones go through, as do BullMQ's own knobs
 * (concurrency, rate limit).
 */
import type { Queue } from 'bullmq';
import type { MiddlewareHandler } from 'hono';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FINISHED = new Set(['completed', 'failed']);

const CANCEL = 'cancel the job in the explorer (or POST /v1/jobs/:id/cancel)';
const refusals: [RegExp, string][] = [
  [/^\/[^/]+\/add$/, 'submit jobs through POST /v1/jobs: a job added here has no record in PostgreSQL and never runs'],
  [/^\/[^/]+\/empty$/, `waiting jobs removed only from BullMQ are queued again by the reconciler: ${CANCEL}`],
  [/^\/[^/]+\/obliterate$/, `jobs removed only from BullMQ are queued again by the reconciler: ${CANCEL}`],
  [/^\/[^/]+\/[^/]+\/update-data$/, "a job's input is kept in PostgreSQL: submit a new job instead"],
  [/^\/[^/]+\/job-schedulers\//, 'schedules are kept in PostgreSQL: change them through /v1/schedules'],
];

export function boardWrites(queues: Queue[], boardPath: string): MiddlewareHandler {
  const byName = new Map(queues.map((q) => [q.name, q]));
  const api = `${boardPath}/api/queues`;
  return async (c, next) => {
    // c.req.path is decoded already (queue names and job ids hold no `/`).
    if (!WRITES.has(c.req.method) || !c.req.path.startsWith(`${api}/`)) return next();
    const path = c.req.path.slice(api.length);
    const refuse = (message: string) => c.json({ error: 'Refused by Spool', message }, 409);

    for (const [pattern, message] of refusals) if (pattern.test(path)) return refuse(message);
    // Every job of a state: only finished ones may be removed; only failed ones retried.
    const all = path.match(/^\/[^/]+\/(clean|retry)\/([^/]+)$/);
    if (all?.[1] === 'clean' && !FINISHED.has(all[2]!))
      return refuse(`only finished jobs can be removed here: ${all[2]} ones would be queued again; ${CANCEL}`);
    if (all?.[1] === 'retry' && all[2] !== 'failed') return refuse('only failed jobs can be retried: a completed job has ended');
    // One job: the same rules, by its state in BullMQ.
    const one = path.match(/^\/([^/]+)\/([^/]+)\/(clean|retry)$/);
    const queue = one && byName.get(one[1]!);
    if (one && queue) {
      const state = await queue.getJobState(one[2]!);
      if (one[3] === 'clean' && !FINISHED.has(state) && state !== 'unknown')
        return refuse(`this job is ${state}: removed only from BullMQ it would be queued again; ${CANCEL}`);
      if (one[3] === 'retry' && state === 'completed') return refuse('a completed job has ended: submit it again instead');
    }
    return next();
  };
}
