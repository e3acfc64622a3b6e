/** A job event as stored, published and streamed: `seq` is per job, from 1, without gaps. */
export interface JobEvent {
  seq: number;
  type: JobEventType;
  data: Record<string, unknown>;
}

export type JobEventType = 'status' | 'progress' | 'step' | 'delta' | 'completed' | 'failed' | 'canceled';

export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['completed', 'failed', 'canceled']);

export const isTerminalEvent = (e: Pick<JobEvent, 'type'>) => TERMINAL_EVENTS.has(e.type);

/** Redis names. The buffer (a sorted set by seq) and the live channel share one name. */
export const eventKey = (prefix: string, jobId: string) => `${prefix}:ev:${jobId}`;
export const cancelChannel = (prefix: string) => `${prefix}:cancel`;
