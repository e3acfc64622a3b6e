/**
 * Reads a job's whole SSE stream (`GET /v1/jobs/:id/events`) until the server closes it, and
 * returns its events in order. Richer SSE helpers (raw frames, EventSource) are in sse-client.ts.
 */
import { openRaw, type SseEvent } from './sse-client.ts';

export type { SseEvent } from './sse-client.ts';

export async function readEvents(
  url: string,
  apiKey: string,
  jobId: string,
  opts: { lastEventId?: string | number; after?: string | number; timeoutMs?: number } = {},
): Promise<SseEvent[]> {
  const stream = await openRaw(url, apiKey, jobId, opts);
  if (stream.status !== 200) {
    stream.close();
    throw new Error(`GET /v1/jobs/${jobId}/events answered ${stream.status}`);
  }
  try {
    return await stream.events(undefined, opts.timeoutMs ?? 30_000);
  } finally {
    stream.close();
  }
}
