import { describe, expect, it } from 'vitest';
import { fetchCycles, packUnits } from '../../../src/transport/fetch-cycle.js';

const batch = (partition: number, n: number) => ({ partition, messages: Array.from({ length: n }, (_, i) => i) });

describe('packUnits', () => {
  it('puts small batches together up to the size, and gives a large batch a unit of its own', () => {
    const units = packUnits([batch(0, 3), batch(1, 64), batch(2, 30), batch(3, 40), batch(4, 1)], 64);
    expect(units.map((u) => u.map((b) => b.partition))).toEqual([[1], [0, 2], [3, 4]]);
  });

  it('never splits a batch, so a partition is in one unit only', () => {
    const units = packUnits([batch(0, 63), batch(1, 63), batch(2, 2)], 64);
    expect(units.map((u) => u.map((b) => b.partition))).toEqual([[0], [1], [2]]);
  });
});

describe('fetchCycles', () => {
  it('runs the batches handed over before the event loop turns as one cycle, and settles every caller with it', async () => {
    const runs: number[][] = [];
    let finish!: () => void;
    const cycle = fetchCycles<number>((batches) => {
      runs.push(batches);
      return new Promise<void>((resolve) => (finish = resolve));
    });
    let settled = 0;
    const calls = [1, 2, 3].map((b) => cycle(b).then(() => settled++));
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([[1, 2, 3]]);
    expect(settled).toBe(0);
    finish();
    await Promise.all(calls);
    expect(settled).toBe(3);
    // A later call starts a cycle of its own.
    const later = cycle(4);
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([[1, 2, 3], [4]]);
    finish();
    await later;
  });

  it('rejects every caller of a cycle that fails', async () => {
    const cycle = fetchCycles<number>(async () => {
      throw new Error('commit failed');
    });
    const results = await Promise.allSettled([cycle(1), cycle(2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
