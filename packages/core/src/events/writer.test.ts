import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { EventWriter } from './writer.ts';

const ev = (seq: number) => ({ seq, type: 'progress' as const, data: { pct: seq } });
const of = (jobId: string, ...seqs: number[]) => seqs.map((seq) => ({ jobId, event: ev(seq) }));
const log = createLogger('silent');

it('writes one batch at a time, and close() waits for every batch', async () => {
  let started = 0;
  let committed = 0;
  let inFlight = 0;
  let most = 0;
  const db = {
    query: async () => {
      const first = ++started === 1;
      most = Math.max(most, ++inFlight);
      await sleep(first ? 300 : 20); // the first batch is slow
      inFlight--;
      committed++;
      return [];
    },
  };
  const w = new EventWriter(db as never, {} as never, log, { maxBatch: 2 });
  w.giveBack(of('j', 1, 2)); // a full batch: written at once
  queueMicrotask(() => w.giveBack(of('j', 4))); // an append settling meanwhile
  w.giveBack(of('j', 3));
  await sleep(50);
  await w.close();
  expect(most).toBe(1);
  expect(started).toBe(2); // 3 and 4 went together, after the first batch
  expect(committed).toBe(2); // both before close() returned
});

it('take() waits for a batch in flight with the job’s events; a failed batch’s events are taken', async () => {
  let fail = true;
  const db = {
    query: async () => {
      await sleep(100);
      if (fail) throw new Error('connection refused');
      return [];
    },
  };
  const w = new EventWriter(db as never, {} as never, log, { maxBatch: 2 });
  w.giveBack(of('j', 1, 2)); // a full batch, on its way and failing
  w.giveBack(of('other', 1));
  await sleep(10);
  expect((await w.take('other')).map((p) => p.event)).toEqual([ev(1)]); // not in the batch: taken at once
  expect((await w.take('j')).map((p) => p.event)).toEqual([ev(1), ev(2)]);
  fail = false;
  await w.close();
});
