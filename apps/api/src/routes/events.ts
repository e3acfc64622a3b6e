/**
 * GET /v1/jobs/:id/events — Server-Sent Events: `id: <seq>`, `event: <type>`, `data: <json>`.
 * Resumes after `Last-Event-ID` (or `?after=`), closes after the terminal event, sends a
 * comment heartbeat, and drops a subscriber whose unsent events pass the buffer cap.
 */
import type { HttpBindings } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { SpoolError } from '@spool/core/errors';
import { followJob } from '@spool/core/events';
import { sseDisconnectsSlow, sseSubscribers } from '@spool/core/metrics';
import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import type { ApiDeps, AppEnv } from '../deps.ts';
import { requireScope } from '../middleware/auth.ts';

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

function parseSeq(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,9}$/.test(raw))
    throw new SpoolError('invalid_event_id', 'Last-Event-ID and after must be event seq numbers', { status: 400 });
  return Number(raw);
}

/** Closes the client's connection at once (on Node the socket; elsewhere the stream). */
function dropConnection(c: Context<AppEnv>, stream: SSEStreamingApi): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing) outgoing.destroy();
  else stream.abort();
}

export function eventRoutes(deps: ApiDeps, app: OpenAPIHono<AppEnv>) {
  app.get('/v1/jobs/:id/events', requireScope(deps, 'jobs:read'), async (c) => {
    const id = c.req.param('id');
    const after = parseSeq(c.req.header('last-event-id') ?? c.req.query('after'));
    const job = await deps.jobs.record(c.get('tenantId'), id);
    if (TERMINAL.has(job.status) && after >= job.last_seq) return c.body(null, 204);

    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      const aborted = new AbortController();
      stream.onAbort(() => aborted.abort());
      sseSubscribers.inc();
      const heartbeat = setInterval(
        () => void stream.write(': heartbeat\n\n').catch(() => aborted.abort()),
        deps.config.sseHeartbeatMs,
      );
      let writing = false;
      let slow = false;
      try {
        const events = followJob({
          db: deps.db,
          hub: deps.hub,
          buffer: deps.buffer,
          jobId: id,
          after,
          maxBuffered: deps.config.sseBufferEvents,
          signal: aborted.signal,
          onOverflow: () => {
            slow = true;
            // A write is stuck because the client stopped reading: it cannot be told anything,
            // and waiting would hold the socket forever, so drop the connection now. Otherwise
            // the loop below is free: it gets the slow_subscriber error, says so and closes.
            if (writing) dropConnection(c, stream);
          },
        });
        for await (const e of events) {
          writing = true;
          await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e.data) });
          writing = false;
        }
      } catch (err) {
        if (err instanceof SpoolError && err.code === 'slow_subscriber') {
          if (!aborted.signal.aborted) await stream.write(`: ${err.message}\n\n`).catch(() => {});
        } else if (!aborted.signal.aborted) {
          deps.log.warn({ err, jobId: id }, 'event stream failed');
        }
      } finally {
        if (slow) sseDisconnectsSlow.inc();
        clearInterval(heartbeat);
        sseSubscribers.dec();
      }
    });
  });
}
