/**
 * A progress bar for a job: redrawn in place on a terminal, one line per change of 10% (or of
 * step) when the output is a file or a pipe, so logs stay readable.
 */
import type { JobEvent } from './follow.ts';
import { printable } from './printable.ts';

export interface ProgressOut {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

const WIDTH = 30;

export function bar(pct: number): string {
  const p = Math.max(0, Math.min(100, pct));
  const full = Math.round((p / 100) * WIDTH);
  return `[${'#'.repeat(full)}${'-'.repeat(WIDTH - full)}] ${p.toFixed(0).padStart(3)}%`;
}

export class ProgressView {
  private pct = 0;
  private message = '';
  private lastLoggedDecile = -1;
  private drawn = false;
  /** Streamed text left the cursor mid-line: a status line starts on a fresh one. */
  private midLine = false;

  constructor(private readonly out: ProgressOut) {}

  /** Shows one event: progress redraws the bar, status and failed steps get a line, deltas stream. */
  update(e: JobEvent): void {
    if (e.type === 'progress') {
      this.pct = Number(e.data?.pct ?? this.pct);
      this.message = printable(String(e.data?.message ?? ''));
      this.draw();
    } else if (e.type === 'status') {
      const note = e.data?.retried ? ' (retried)' : e.data?.attempt ? ` (attempt ${e.data.attempt})` : '';
      this.line(`status: ${e.data?.status}${note}`);
    } else if (e.type === 'step' && e.data?.status === 'failed') {
      this.line(`step ${e.data.name} failed`);
    } else if (e.type === 'delta' && e.data?.restart) {
      // The model is asked again: what streamed so far is discarded, not the start of the answer.
      this.line('(answer restarted)');
    } else if (e.type === 'delta' && typeof e.data?.text === 'string') {
      this.clear();
      const text = printable(e.data.text, true);
      this.out.write(text);
      if (text) this.midLine = !text.endsWith('\n');
    } else if (e.type === 'completed') {
      if (this.pct < 100) {
        this.pct = 100;
        this.draw();
      }
      this.clear(true);
    } else if (e.type === 'failed' || e.type === 'canceled') {
      // A line, not only the exit code: a retried job goes on after it.
      this.line(e.type === 'failed' ? `failed: ${e.data?.error?.code}: ${e.data?.error?.message}` : 'canceled');
      this.pct = 0;
    }
  }

  private draw(): void {
    const text = `${bar(this.pct)} ${this.message}`;
    if (this.out.isTTY) {
      const cols = this.out.columns || 80; // 0 when the terminal does not say
      this.out.write(`\r${text.slice(0, cols - 1).padEnd(Math.min(cols - 1, text.length))}\x1b[K`);
      this.drawn = true;
      return;
    }
    const decile = Math.floor(this.pct / 10);
    if (decile !== this.lastLoggedDecile) {
      this.lastLoggedDecile = decile;
      this.out.write(`${text}\n`);
    }
  }

  /** A status line; `s` may hold server text (a status, a step name, an error), made printable here. */
  private line(s: string): void {
    this.clear();
    this.out.write(`${this.midLine ? '\n' : ''}${printable(s)}\n`);
    this.midLine = false;
    if (this.out.isTTY && this.pct > 0) this.draw();
  }

  private clear(final = false): void {
    if (this.out.isTTY && this.drawn) {
      this.out.write(final ? '\n' : '\r\x1b[K');
      this.drawn = false;
    }
  }
}
