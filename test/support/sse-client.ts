/**
 * SSE helpers for tests: a raw `text/event-stream` reader over fetch (sees comments such as
 * heartbeats, and lets a test stop reading), and an `eventsource` client that sends the
 * tenant's key and records every request it makes. sse.ts has the simple `readEvents`.
 */
import { EventSource, type FetchLike } from 'eventsource';

export interface SseEvent {
  id: number;
  event: string;
  data: any;
}

/** One parsed frame of the stream: an event, or a comment line (`: heartbeat`). */
export type SseFrame = ({ kind: 'event' } & SseEvent) | { kind: 'comment'; text: string };

export function parseFrame(block: string): SseFrame[] {
  const frames: SseFrame[] = [];
  let id: string | undefined;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (line.startsWith(':')) {
      frames.push({ kind: 'comment', text: line.slice(1).trim() });
      continue;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (id !== undefined || data.length > 0) {
    frames.push({ kind: 'event', id: Number(id), event, data: data.length ? JSON.parse(data.join('\n')) : undefined });
  }
  return frames;
}

export class TimeoutError extends Error {}

export interface RawStream {
  status: number;
  headers: Headers;
  /** The next frame, or undefined at the end of the stream. Rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseFrame | undefined>;
  /** Reads events (skipping comments) until `until` is true for one, or the stream ends. */
  events(until?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent[]>;
  /** Reads everything up to the end of the stream. */
  rest(timeoutMs?: number): Promise<SseFrame[]>;
  /** Reads frames for `ms`, then returns them (and whether the stream ended meanwhile). */
  during(ms: number): Promise<{ frames: { at: number; frame: SseFrame }[]; ended: boolean }>;
  close(): void;
}

/**
 * Opens `GET /v1/jobs/:id/events` with fetch. Nothing is read from the socket until `next`
 * is called, so a test can stop reading (the body's backpressure reaches the server).
 */
export async function openRaw(
  baseUrl: string,
  apiKey: string,
  jobId: string,
  opts: { lastEventId?: string | number; after?: string | number; signal?: AbortSignal } = {},
): Promise<RawStream> {
  const controller = new AbortController();
  opts.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const query = opts.after === undefined ? '' : `?after=${opts.after}`;
  const res = await fetch(`${baseUrl}/v1/jobs/${jobId}/events${query}`, {
    headers: {
      authorization: `Bearer ${apiKey}`,
      accept: 'text/event-stream',
      ...(opts.lastEventId === undefined ? {} : { 'last-event-id': String(opts.lastEventId) }),
    },
    signal: controller.signal,
  });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const queue: SseFrame[] = [];
  let ended = !reader;
  let reading: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  const next = async (timeoutMs = 15_000): Promise<SseFrame | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (queue.length) return queue.shift();
      const cut = text.search(/\r?\n\r?\n/);
      if (cut >= 0) {
        const block = text.slice(0, cut);
        text = text.slice(cut).replace(/^\r?\n\r?\n/, '');
        queue.push(...parseFrame(block));
        continue;
      }
      if (ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE frame within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      // A read left pending by a timeout is kept for the next call, so no chunk is lost.
      reading ??= reader!.read();
      const chunk = await Promise.race([
        reading,
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk === 'timeout') throw new TimeoutError(`no SSE frame within ${timeoutMs} ms`);
      reading = undefined;
      if (chunk.done) ended = true;
      else text += decoder.decode(chunk.value, { stream: true });
    }
  };

  return {
    status: res.status,
    headers: res.headers,
    next,
    async events(until, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const out: SseEvent[] = [];
      for (;;) {
        const f = await next(Math.max(1, deadline - Date.now()));
        if (!f) return out;
        if (f.kind !== 'event') continue;
        out.push({ id: f.id, event: f.event, data: f.data });
        if (until?.(f)) return out;
      }
    },
    async rest(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const out: SseFrame[] = [];
      for (;;) {
        const f = await next(Math.max(1, deadline - Date.now()));
        if (!f) return out;
        out.push(f);
      }
    },
    async during(ms) {
      const start = Date.now();
      const frames: { at: number; frame: SseFrame }[] = [];
      for (;;) {
        const left = start + ms - Date.now();
        if (left <= 0) return { frames, ended: false };
        let f: SseFrame | undefined;
        try {
          f = await next(left);
        } catch (err) {
          if (err instanceof TimeoutError) return { frames, ended: false };
          throw err;
        }
        if (!f) return { frames, ended: true };
        frames.push({ at: Date.now() - start, frame: f });
      }
    },
    close() {
      controller.abort();
      reader?.cancel().catch(() => {});
    },
  };
}

export const eventsOf = (frames: SseFrame[]): SseEvent[] =>
  frames.filter((f): f is { kind: 'event' } & SseEvent => f.kind === 'event').map(({ id, event, data }) => ({ id, event, data }));

export interface TrackedEventSource {
  es: EventSource;
  /** Every event received, over all of its connections (`conn`: index into `requests`). */
  received: (SseEvent & { conn: number })[];
  /** Every request the client made: its Last-Event-ID, and the answer's status. */
  requests: { lastEventId: string | null; status?: number }[];
  errors: { code?: number | undefined; message?: string | undefined; readyState: number }[];
}

export const SSE_TYPES = ['status', 'progress', 'step', 'delta', 'completed', 'failed', 'canceled'] as const;

export interface TrackedOptions {
  onEvent?: (e: SseEvent) => void;
  /**
   * Simulates a network drop: the first connection's body fails right after this many
   * events, and its HTTP request is aborted (the server sees the client go away).
   */
  dropFirstAfter?: number;
  /** Puts `retry: <ms>` in front of every body, so the client reconnects after `ms`, not 3 s. */
  retryMs?: number;
}

/** Passes an SSE body through, with an optional `retry:` first and a drop after n events. */
function wrapBody(body: ReadableStream<Uint8Array>, o: { retryMs?: number; dropAfter?: number; onDrop: () => void }) {
  const reader = body.getReader();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  let prefixSent = o.retryMs === undefined;
  let seen = 0;
  let text = '';
  let drop = false;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (!prefixSent) {
        prefixSent = true;
        ctrl.enqueue(enc.encode(`retry: ${o.retryMs}\n\n`));
        return;
      }
      if (drop) {
        // Errors only after the last events were read: an error discards queued chunks.
        o.onDrop();
        ctrl.error(new TypeError('simulated network drop'));
        return;
      }
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          ctrl.close();
          return;
        }
        if (o.dropAfter === undefined) {
          ctrl.enqueue(value);
          return;
        }
        text += dec.decode(value, { stream: true });
        let out = '';
        for (let cut = text.indexOf('\n\n'); cut >= 0; cut = text.indexOf('\n\n')) {
          const block = text.slice(0, cut + 2);
          text = text.slice(cut + 2);
          out += block;
          if (/^id:/m.test(block) && ++seen >= o.dropAfter) {
            drop = true;
            break;
          }
        }
        if (out) {
          ctrl.enqueue(enc.encode(out));
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** An `eventsource` client that authenticates with the tenant's key and records what it does. */
export function trackedEventSource(url: string, apiKey: string, opts: TrackedOptions = {}): TrackedEventSource {
  const requests: TrackedEventSource['requests'] = [];
  const fetchWithKey: FetchLike = async (input, init) => {
    const entry: TrackedEventSource['requests'][number] = { lastEventId: init.headers['Last-Event-ID'] ?? null };
    requests.push(entry);
    const first = requests.length === 1;
    const abort = new AbortController();
    init.signal?.addEventListener?.('abort', () => abort.abort(), { once: true });
    const res = await fetch(input, {
      ...init,
      headers: { ...init.headers, Authorization: `Bearer ${apiKey}` },
      signal: abort.signal,
    });
    entry.status = res.status;
    if (!res.body || res.status !== 200 || (opts.retryMs === undefined && !(first && opts.dropFirstAfter))) return res;
    const body = wrapBody(res.body, {
      ...(opts.retryMs === undefined ? {} : { retryMs: opts.retryMs }),
      ...(first && opts.dropFirstAfter ? { dropAfter: opts.dropFirstAfter } : {}),
      onDrop: () => abort.abort(),
    });
    return { body, url: res.url, status: res.status, redirected: res.redirected, headers: res.headers };
  };
  const es = new EventSource(url, { fetch: fetchWithKey });
  const received: TrackedEventSource['received'] = [];
  const errors: TrackedEventSource['errors'] = [];
  for (const type of SSE_TYPES) {
    es.addEventListener(type, (m: MessageEvent) => {
      const e = { id: Number(m.lastEventId), event: type, data: JSON.parse(m.data) };
      received.push({ ...e, conn: requests.length - 1 });
      opts.onEvent?.(e);
    });
  }
  es.addEventListener('error', (e) => errors.push({ code: e.code, message: e.message, readyState: es.readyState }));
  return { es, received, requests, errors };
}

/** Polls `check` until it returns a truthy value. */
export async function until<T>(check: () => T | Promise<T>, timeoutMs = 20_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Asserts the ids are exactly from..to, each once, in order (returns a message, or '' if so). */
export function sequenceProblem(ids: number[], from = 1, to?: number): string {
  const end = to ?? from + ids.length - 1;
  const expected = Array.from({ length: Math.max(0, end - from + 1) }, (_, i) => from + i);
  if (ids.length === expected.length && ids.every((id, i) => id === expected[i])) return '';
  return `expected ids ${from}..${end}, got [${ids.join(',')}]`;
}
