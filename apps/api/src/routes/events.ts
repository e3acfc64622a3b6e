/**
 * GET /v1/jobs/:id/events — Server-Sent Events: `id: <seq>`, `event: <type>`, `data: <json>`.
 * Resumes after `Last-Event-ID` (or `?after=`), closes after the terminal event, sends a
 * comment heartbeat, and drops a subscriber whose unsent events pass the buffer cap. A job that
 * has ended is replayed from PostgreSQL (also while Redis is down); a live job needs Redis (503).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { followJob } from '@spool/core/events';
import { sseDisconnectsSlow, sseSubscribers } from '@spool/core/metrics';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { keyStillValid, requireScope } from '../middleware/auth.ts';
import { jobIdOf } from '../schemas.ts';
import { respondWithSse, sseFrame } from '../sse-sink.ts';

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

function parseSeq(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,9}$/.test(raw))
    throw new SpoolError('invalid_event_id', 'Last-Event-ID and after must be event seq numbers', { status: 400 });
  return Number(raw);
}

export function eventRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.get('/v1/jobs/:id/events', requireScope(deps, 'jobs:read'), async (c) => {
    const id = jobIdOf(c);
    const after = parseSeq(c.req.header('last-event-id') ?? c.req.query('after'));
    const job = await deps.jobs.record(c.get('tenantId'), id);
    const ended = TERMINAL.has(job.status);
    if (ended && after >= job.last_seq) return c.body(null, 204);
    // An ended job replays from PostgreSQL alone; a live one needs the Redis channel, and a
    // stream that could only wait for it would look like a job making no progress.
    if (!ended && !deps.hub.connected)
      throw new SpoolError('redis_unavailable', 'live events are unavailable while Redis is unreachable; try again shortly', {
        status: 503,
        retryAfterMs: 5_000,
      });

    const headers = { 'x-accel-buffering': 'no', 'x-request-id': c.get('requestId') };
    return respondWithSse(c, headers, async (sink) => {
      sseSubscribers.inc();
      // The key was checked when the stream opened, and a stream lasts as long as its job: a
      // key revoked meanwhile ends it at a heartbeat (the client's reconnect is then a 401).
      const revoked = new AbortController();
      const heartbeat = setInterval(() => {
        void sink.write(': heartbeat\n\n');
        void keyStillValid(deps, c).then((valid) => valid || revoked.abort());
      }, deps.config.sseHeartbeatMs);
      let writing = false;
      let slow = false;
      try {
        const events = followJob({
          db: deps.db,
          hub: deps.hub,
          buffer: deps.buffer,
          jobId: id,
          after,
          ended,
          maxBuffered: deps.config.sseBufferEvents,
          signal: AbortSignal.any([sink.closed, revoked.signal]),
          onOverflow: () => {
            // A write is stuck because the client stopped reading: it cannot be told anything,
            // and waiting would hold the socket forever, so drop the connection now. A client
            // that was only behind for a moment is not dropped: followJob reads the events it
            // missed from storage.
            if (!writing) return;
            slow = true;
            sink.drop();
          },
        });
        for await (const e of events) {
          writing = true;
          await sink.write(sseFrame(String(e.seq), e.type, JSON.stringify(e.data)));
          writing = false;
        }
      } catch (err) {
        if (!sink.closed.aborted) deps.log.warn({ err, jobId: id }, 'event stream failed');
      } finally {
        if (slow) sseDisconnectsSlow.inc();
        clearInterval(heartbeat);
        sseSubscribers.dec();
      }
    });
  });
}
