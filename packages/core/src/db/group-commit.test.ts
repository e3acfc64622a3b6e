import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.ts';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe('GroupCommit', () => {
  it('writes a lone caller at once and groups the callers that wait', async () => {
    const writes: number[][] = [];
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const group = new GroupCommit<number, number[]>(
      async (items) => {
        writes.push(items);
        const gate = deferred<void>();
        gates.push(gate);
        await gate.promise;
        return items;
      },
      { maxInFlight: 1, maxItems: 10 },
    );
    const first = group.run([1]);
    expect(writes).toEqual([[1]]);
    const second = group.run([2, 3]);
    const third = group.run([4]);
    expect(writes).toHaveLength(1);
    gates[0]!.resolve();
    expect(await first).toEqual([1]);
    await Promise.resolve();
    expect(writes[1]).toEqual([2, 3, 4]);
    gates[1]!.resolve();
    expect(await second).toEqual([2, 3, 4]);
    expect(await third).toEqual([2, 3, 4]);
  });

  it('never splits a caller and respects maxItems', async () => {
    const writes: number[][] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const group = new GroupCommit<number, void>(
      async (items) => {
        writes.push(items);
        if (writes.length === 1) await blocked;
      },
      { maxInFlight: 1, maxItems: 3 },
    );
    const calls = [group.run([0]), group.run([1, 2]), group.run([3, 4]), group.run([5])];
    release();
    await Promise.all(calls);
    expect(writes).toEqual([[0], [1, 2], [3, 4, 5]]);
  });

  it('rejects every caller of a failed write, and goes on with the next', async () => {
    let fail = true;
    let release!: () => void;
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    const group = new GroupCommit<number, string>(
      async (items) => {
        if (items[0] === 0) await blocked;
        if (fail && items[0] !== 0) throw new Error('down');
        return 'ok';
      },
      { maxInFlight: 1, maxItems: 10 },
    );
    const first = group.run([0]);
    const a = group.run([1]);
    const b = group.run([2]);
    release();
    await expect(first).resolves.toBe('ok');
    await expect(a).rejects.toThrow('down');
    await expect(b).rejects.toThrow('down');
    fail = false;
    await expect(group.run([3])).resolves.toBe('ok');
  });

  it('frees the slot of a write that hangs, so later callers are not stalled for ever', async () => {
    const group = new GroupCommit<number, string>(
      (items) => (items[0] === 0 ? new Promise<string>(() => {}) : Promise.resolve('ok')),
      { maxInFlight: 1, maxItems: 10, slotTimeoutMs: 20 },
    );
    void group.run([0]);
    await expect(group.run([1])).resolves.toBe('ok');
  });
});
