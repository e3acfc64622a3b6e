/**
 * Follows a job's events over SSE (`GET /v1/jobs/:id/events`) until the server ends the stream,
 * reconnecting with `Last-Event-ID` when it drops, as an EventSource would. The server ends it
 * after the job's latest terminal event: a retried job has earlier ones, followed past. An API
 * that cannot be reached at the first connection is an error at once, as for any other call.
 */
import { ApiError, type CliConfig, errorOf, send } from './api.ts';

export interface JobEvent {
  seq: number;
  type: string;
  data: any;
}

const TERMINAL = new Set(['completed', 'failed', 'canceled']);

export interface FollowOptions {
  signal?: AbortSignal;
  /**
   * A stream that brings nothing for this long (the API sends a heartbeat every 15 s) is a
   * dead connection (a NAT or a load balancer dropped it without a word): it is given up and
   * resumed. Unwatched, it held the CLI until undici's 300 s body timeout.
   */
  idleMs?: number;
}

export async function follow(
  config: CliConfig,
  jobId: string,
  onEvent: (e: JobEvent) => void,
  { signal, idleMs = 45_000 }: FollowOptions = {},
): Promise<JobEvent> {
  let lastId: number | undefined;
  let terminal: JobEvent | undefined; // the last event, if terminal
  let connected = false; // a stream was open once: a failure since is a drop to ride out
  for (let failures = 0; ; ) {
    const idle = new AbortController();
    let heard = false; // this stream brought something: an event or a heartbeat
    try {
      const res = await send(config, `/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: {
          accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }),
        },
        signal: signal ? AbortSignal.any([signal, idle.signal]) : idle.signal,
      });
      // 204 answers only a resume from the job's last event: ours, if it was terminal.
      if (res.status === 204 && terminal) return terminal;
      if (!res.ok || !res.body) throw await errorOf(res);
      connected = true;
      for await (const e of frames(res.body, idle, idleMs, () => (heard = true))) {
        lastId = e.seq;
        onEvent(e);
        terminal = TERMINAL.has(e.type) ? e : undefined;
      }
      if (terminal) return terminal; // the server closed the stream after it
      // Ended with nothing: asked again at once, a server that ends every stream was asked
      // thousands of times a second. It waits like any failure, and counts as one.
      if (!heard) throw new ApiError(0, 'stream_ended', 'the event stream ended without an event or a heartbeat');
      failures = 0;
    } catch (err) {
      if (heard) failures = 0;
      // 4xx is an answer, except 429 (wait and ask again); status 0 (unreachable) is one too
      // before any stream was open: a wrong --url or a stopped API, where ~40 s of reconnects
      // would only delay the same message.
      const final = err instanceof ApiError && (err.status === 0 ? !connected : err.status < 500 && err.status !== 429);
      if (signal?.aborted || final || ++failures > 10) throw err;
      const retryAfterMs = err instanceof ApiError ? err.retryAfterMs : undefined;
      await new Promise((r) => setTimeout(r, retryAfterMs ?? Math.min(200 * 2 ** failures, 5_000)));
    }
  }
}

/** The stream's events; `idle` is aborted when nothing arrives for `idleMs`. */
async function* frames(
  body: ReadableStream<Uint8Array>,
  idle: AbortController,
  idleMs: number,
  onBytes: () => void,
): AsyncGenerator<JobEvent> {
  const decoder = new TextDecoder();
  let pending = '';
  let timer = setTimeout(() => idle.abort(), idleMs);
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), idleMs);
      onBytes();
      pending += decoder.decode(chunk, { stream: true });
      for (let end = pending.search(/\r?\n\r?\n/); end >= 0; end = pending.search(/\r?\n\r?\n/)) {
        const block = pending.slice(0, end);
        pending = pending.slice(end).replace(/^\r?\n\r?\n/, '');
        let id: string | undefined;
        let type = 'message';
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue; // heartbeat
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'event') type = value;
          else if (field === 'data') data.push(value);
        }
        if (id !== undefined) yield { seq: Number(id), type, data: data.length ? JSON.parse(data.join('\n')) : undefined };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
