import { describe, expect, it } from 'vitest';
import { bar, ProgressView } from './progress.ts';

const capture = (isTTY: boolean) => {
  let text = '';
  return { out: { isTTY, columns: 80, write: (s: string) => (text += s) }, text: () => text };
};
const progress = (pct: number, seq = 1) => ({ seq, type: 'progress', data: { pct, message: `${pct} done` } });

describe('progress bar', () => {
  it('draws a bar of 30 cells', () => {
    expect(bar(0)).toBe(`[${'-'.repeat(30)}]   0%`);
    expect(bar(50)).toBe(`[${'#'.repeat(15)}${'-'.repeat(15)}]  50%`);
    expect(bar(140)).toBe(`[${'#'.repeat(30)}] 100%`);
  });

  it('redraws in place on a terminal and ends the line at the terminal event', () => {
    const c = capture(true);
    const view = new ProgressView(c.out);
    for (const pct of [10, 11, 12]) view.update(progress(pct));
    view.update({ seq: 9, type: 'completed', data: {} });
    expect(c.text().split('\r').length).toBe(5); // one redraw per event, the last at 100%
    expect(c.text().endsWith('\n')).toBe(true);
    expect(c.text().split('\n').length).toBe(2);
  });

  it('logs one line per 10% when the output is not a terminal', () => {
    const c = capture(false);
    const view = new ProgressView(c.out);
    for (let pct = 0; pct <= 100; pct += 1) view.update(progress(pct));
    const lines = c.text().trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(c.text()).not.toContain('\r');
    view.update({ seq: 200, type: 'completed', data: {} });
    expect(c.text().trim().split('\n')).toHaveLength(11); // 100% is not logged twice
  });

  it('says so when a streamed answer restarts, on a line of its own, rather than run both tries together', () => {
    const c = capture(false);
    const view = new ProgressView(c.out);
    const delta = (seq: number, data: object) => view.update({ seq, type: 'delta', data });
    delta(1, { text: 'echo: ' });
    delta(2, { text: '', restart: true });
    for (const [i, text] of ['echo: ', 'one ', 'two'].entries()) delta(3 + i, { text });
    expect(c.text()).toBe('echo: \n(answer restarted)\necho: one two');
  });

  it('draws the whole line on a terminal that reports 0 columns', () => {
    const c = capture(true);
    c.out.columns = 0;
    new ProgressView(c.out).update(progress(20));
    expect(c.text()).toContain('20 done');
  });

  it('writes no control characters from the server: escape sequences in messages, deltas and errors are stripped', () => {
    const evil = 'a\x1b]0;owned\x07b\x1b[2J\x9b31mc\r\x08';
    const events = [
      { seq: 1, type: 'status', data: { status: `running${evil}` } },
      { seq: 2, type: 'progress', data: { pct: 10, message: `step${evil}\nnext` } },
      { seq: 3, type: 'step', data: { name: `s${evil}`, status: 'failed' } },
      { seq: 4, type: 'delta', data: { text: `one${evil}\ntwo\tthree` } },
      { seq: 5, type: 'failed', data: { error: { code: `boom${evil}`, message: `bad${evil}` } } },
    ];
    for (const isTTY of [false, true]) {
      const c = capture(isTTY);
      const view = new ProgressView(c.out);
      for (const e of events) view.update(e);
      // What is left once the view's own redraw (\r and erase-line) is taken out.
      const text = c.text().replaceAll('\r\x1b[K', '').replaceAll('\r', '').replaceAll('\x1b[K', '');
      expect(text).not.toMatch(/(?![\n\t])\p{Cc}/u);
      expect(text).toContain('stepabc next'); // a status line stays one line
      expect(text).toContain('oneabc\ntwo\tthree'); // a delta keeps its newlines and tabs
      expect(text).toContain('failed: boomabc: badabc');
    }
  });
});
