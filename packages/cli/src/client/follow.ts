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

export async function follow(
  config: CliConfig,
  jobId: string,
  onEvent: (e: JobEvent) => void,
  signal?: AbortSignal,
): Promise<JobEvent> {
  let lastId: number | undefined;
  let terminal: JobEvent | undefined; // the last event, if terminal
  let connected = false; // a stream was open once: a failure since is a drop to ride out
  for (let failures = 0; ; ) {
    try {
      const res = await send(config, `/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: {
          accept: 'text/event-stream',
          ...(lastId === undefined ? {} : { 'last-event-id': String(lastId) }),
        },
        signal,
      });
      // 204 answers only a resume from the job's last event: ours, if it was terminal.
      if (res.status === 204 && terminal) return terminal;
      if (!res.ok || !res.body) throw await errorOf(res);
      connected = true;
      failures = 0;
      for await (const e of frames(res.body)) {
        lastId = e.seq;
        onEvent(e);
        terminal = TERMINAL.has(e.type) ? e : undefined;
      }
      if (terminal) return terminal; // the server closed the stream after it
    } catch (err) {
      // 4xx is an answer; status 0 (unreachable) is one too before any stream was open: a wrong
      // --url or a stopped API, where ~40 s of reconnects would only delay the same message.
      const final = err instanceof ApiError && (err.status === 0 ? !connected : err.status < 500);
      if (signal?.aborted || final || ++failures > 10) throw err;
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** failures, 5_000)));
    }
  }
}

async function* frames(body: ReadableStream<Uint8Array>): AsyncGenerator<JobEvent> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
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
}
